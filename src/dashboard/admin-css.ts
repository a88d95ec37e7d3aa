/** The one stylesheet (served from `ADMIN_CSS_PATH`; the CSP allows no inline styles). */
export const ADMIN_CSS = `
:root { --fg: #1f2933; --muted: #6b7785; --line: #d9dee4; --bg: #f7f8fa; --accent: #1d4ed8; --bad: #b91c1c; --ok: #15803d; --warn: #b45309; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: center; gap: 1.5rem; padding: .6rem 1.2rem; background: #111827; color: #e5e7eb; }
header a { color: #e5e7eb; text-decoration: none; }
header a:hover { text-decoration: underline; }
header .brand { font-weight: 700; font-size: 1.1rem; }
header nav { display: flex; gap: 1rem; flex: 1; }
header .who { display: flex; gap: .6rem; align-items: center; }
header .who .muted { color: #9ca3af; }
main { padding: 1rem 1.5rem 3rem; max-width: 1400px; }
h1 { font-size: 1.4rem; margin: .4rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.6rem 0 .6rem; }
h3 { font-size: 1rem; margin: 0 0 .4rem; }
a { color: var(--accent); }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, monospace; }
.muted { color: var(--muted); font-weight: normal; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef1f5; font-weight: 600; font-size: 12.5px; }
td.num { text-align: right; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 9px; font-size: 12px; background: #e5e7eb; white-space: nowrap; }
.s-completed, .s-succeeded, .s-not_found { background: #dcfce7; color: var(--ok); }
.s-failed, .s-completed_with_errors, .overdue { background: #fee2e2; color: var(--bad); }
.s-waiting_manual, .s-rate_limited, .s-waiting_vendor, .s-scheduled { background: #fef3c7; color: var(--warn); }
.s-in_progress, .s-running, .s-queued, .s-received { background: #dbeafe; color: var(--accent); }
.soon { color: var(--warn); font-weight: 600; }
.at-risk { background: #fef3c7; color: var(--warn); }
.filters { display: flex; gap: .8rem; align-items: center; margin-bottom: .8rem; flex-wrap: wrap; }
.filters a { padding: .2rem .6rem; border-radius: 4px; text-decoration: none; border: 1px solid var(--line); background: #fff; }
.filters a.active { background: var(--accent); color: #fff; border-color: var(--accent); }
form.inline { display: inline-flex; gap: .4rem; align-items: center; margin-left: auto; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; background: #fff; border: 1px solid var(--line); padding: .8rem 1rem; margin: 0; }
dl.summary dt { color: var(--muted); }
dl.summary dd { margin: 0; }
progress { width: 12rem; vertical-align: middle; }
section.vendor { margin: 0 0 1.2rem; }
ul.evidence { margin: 0; padding: 0; list-style: none; }
.error-text { color: var(--bad); }
.notice { background: #dcfce7; border: 1px solid #86efac; padding: .5rem .8rem; }
.error { background: #fee2e2; border: 1px solid #fca5a5; padding: .5rem .8rem; }
.actions { display: flex; gap: 1rem; margin-top: 1rem; flex-wrap: wrap; }
form.action, form.manual, form.decide { display: flex; flex-direction: column; gap: .3rem; background: #fff; border: 1px solid var(--line); padding: .6rem .8rem; min-width: 22rem; }
form.manual, form.decide { margin-top: .4rem; min-width: 0; }
form.action.danger { border-color: #fca5a5; }
input, select, textarea, button { font: inherit; }
input, textarea { padding: .3rem .4rem; border: 1px solid #b8c0ca; border-radius: 3px; }
button { padding: .3rem .8rem; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 3px; cursor: pointer; align-self: flex-start; }
.danger button { background: var(--bad); border-color: var(--bad); }
button.link { background: none; border: none; color: #e5e7eb; padding: 0; text-decoration: underline; }
section.login { max-width: 26rem; margin: 3rem auto; background: #fff; border: 1px solid var(--line); padding: 1.2rem 1.5rem; }
section.login form { display: flex; flex-direction: column; gap: .5rem; }
.crumbs { margin: 0 0 .3rem; color: var(--muted); }
`;
