import { expect } from 'chai';
import { escapeHtml, html, path, trusted } from '../../src/dashboard/html.js';

describe('The html template helper of the admin pages', () => {
  it('escapes every interpolated value by default, in text and in attributes', () => {
    const name = `<script>alert("x")</script>' onmouseover='y' \``;
    const out = html`<p title="${name}">${name}</p>`.value;
    expect(out).to.equal(
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onmouseover=&#39;y&#39; &#96;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onmouseover=&#39;y&#39; &#96;</p>',
    );
  });

  it('does not escape nested templates twice, renders arrays item by item and leaves out null, undefined and false', () => {
    const items = ['a&b', html`<i>${'<c>'}</i>`];
    expect(html`<ul>${items.map((i) => html`<li>${i}</li>`)}</ul>${null}${undefined}${false}${0}`.value).to.equal(
      '<ul><li>a&amp;b</li><li><i>&lt;c&gt;</i></li></ul>0',
    );
  });

  it('keeps only constant markup passed to trusted() and encodes path segments', () => {
    expect(html`${trusted('<br>')}`.value).to.equal('<br>');
    expect(path('/admin/requests', '../x?y=<z>')).to.equal('/admin/requests/..%2Fx%3Fy%3D%3Cz%3E');
    expect(escapeHtml('&amp;')).to.equal('&amp;amp;');
  });
});
