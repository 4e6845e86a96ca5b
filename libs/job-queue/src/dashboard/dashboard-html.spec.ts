import { escapeHtml, html, query } from './dashboard-html';

describe('dashboard html', () => {
  it('escapes every interpolated value', () => {
    const payload = '{"x":"</pre><script>alert(1)</script>"}';
    // prettier-ignore
    const out = html`<pre>${payload}</pre><a title="${'" onclick="x'}">'</a>`.text;
    expect(out).toBe(
      '<pre>{&quot;x&quot;:&quot;&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;&quot;}</pre>' +
        '<a title="&quot; onclick=&quot;x">\'</a>',
    );
  });

  it('keeps nested templates and lists as markup, drops null, undefined and false', () => {
    const rows = ['<a>', 'b'].map((v) => html`<li>${v}</li>`);
    // prettier-ignore
    const out = html`<ul>${rows}${null}${undefined}${false}</ul>`.text;
    expect(out).toBe('<ul><li>&lt;a&gt;</li><li>b</li></ul>');
  });

  it('escapes quotes and ampersands', () => {
    expect(escapeHtml(`a&b'c"`)).toBe('a&amp;b&#39;c&quot;');
  });

  it('builds a query string of the defined values only', () => {
    expect(query({ state: 'dead', type: 'a b&c', after: null, queue: '' })).toBe('?state=dead&type=a%20b%26c');
    expect(query({})).toBe('');
  });
});
