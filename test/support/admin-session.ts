/**
 * Logs a token in to the admin pages the way a browser does (issue 25 §5: the cookie holds a
 * session id, never the token) and returns the `Cookie` header value of its session.
 */
export async function adminSessionCookie(baseUrl: string, token: string): Promise<string> {
  const form = await fetch(`${baseUrl}/admin/login`, { headers: { accept: 'text/html' } });
  const loginCookie = form.headers.get('set-cookie')!.split(';')[0];
  const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1];
  const ok = await fetch(`${baseUrl}/admin/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCookie },
    body: new URLSearchParams({ csrf, token }).toString(),
  });
  const session = ok.headers.getSetCookie().find((c) => c.startsWith('erasure_session='));
  if (ok.status !== 303 || !session) throw new Error(`admin login answered ${ok.status}`);
  return session.split(';')[0];
}
