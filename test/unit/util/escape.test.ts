import { describe, expect, it } from 'vitest';
import { escapeHtml, renderPatch } from '../../../src/observe/page-render.js';
import { renderEmail } from '../../../src/triggers/template.js';
import { sampleEvent } from '../../../src/triggers/events.js';
import { escapeControl, escapePath } from '../../../src/util/escape.js';

const NAME = 'x\u001b[2J\nY';
const SHOWN = 'x\\x1b[2J\\nY';
const RAW = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/;

describe('one escaping of names for terminals, headers and the page', () => {
  it('shows control characters as \\xNN / \\n, bidi overrides as \\uNNNN, and leaves the rest alone', () => {
    expect(escapeControl(NAME)).toBe(SHOWN);
    expect(escapeControl('a\tb\r\u0000\u007f\u009b')).toBe('a\\tb\\r\\x00\\x7f\\x9b');
    expect(escapeControl('evil\u202egnp.exe')).toBe('evil\\u202egnp.exe');
    expect(escapeControl('ünïcode name – ok')).toBe('ünïcode name – ok');
    expect(escapeControl('a\tb', { keepTabs: true })).toBe('a\tb');
    // A path: a backslash is doubled, so "x\\x1b" on screen is never a name that holds an ESC.
    expect(escapePath('a\\x1b')).toBe('a\\\\x1b');
    expect(escapePath(`d/${NAME}`)).toBe(`d/${SHOWN}`);
  });

  it('an e-mail subject: a name with ESC and a newline is shown escaped, one header line', () => {
    const event = sampleEvent('drift', 'n1', { files: [`domains/acme/${NAME}`] });
    const { subject } = renderEmail(event, { subject: 'drift on {{node}}: {{files}}', body: '{{files}}' });
    expect(subject).toContain(SHOWN);
    expect(subject).not.toMatch(RAW);
  });

  it('the status page: text and diff lines show control characters escaped (tabs in a diff kept)', () => {
    expect(escapeHtml(`<b>${NAME}</b>`)).toBe(`&lt;b&gt;${SHOWN}&lt;/b&gt;`);
    const html = renderPatch(`--- a/f\n+++ b/f\n@@ -1 +1 @@\n-old\n+name: ${NAME.replace('\n', '')}\tend\n`);
    expect(html).toContain('+name: x\\x1b[2JY\tend');
    expect(html).not.toMatch(/\u001b/);
  });
});
