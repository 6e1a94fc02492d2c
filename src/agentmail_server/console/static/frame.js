// HTML mail, shown without letting it do anything: a sandboxed srcdoc iframe.
//
// * `sandbox` without allow-scripts: no script in the mail runs (nor forms, plugins or top
//   navigation); without allow-same-origin the frame is an opaque origin, so even a script that did
//   run could reach neither the console nor its API key.
// * The frame inherits the console's Content-Security-Policy and adds its own, stricter one first in
//   its <head>: nothing is loaded from anywhere (remote images, CSS, fonts, frames); inline styles
//   and data: images only. Policies only ever add up, so nothing in the mail can loosen them.
// * Links open in a new tab (allow-popups), without a referrer.

export const FRAME_CSP = [
  "default-src 'none'",
  "style-src 'unsafe-inline'",
  'img-src data:',
  "form-action 'none'",
  "base-uri 'none'",
].join('; ');

const SANDBOX = 'allow-popups allow-popups-to-escape-sandbox';

// The only way an HTML string reaches the DOM (the page's CSP enforces Trusted Types).
const policy = window.trustedTypes
  ? window.trustedTypes.createPolicy('mail-frame', { createHTML: (html) => html })
  : { createHTML: (html) => html };

function frameDocument(html) {
  return '<!doctype html><html><head><meta charset="utf-8">'
    + `<meta http-equiv="Content-Security-Policy" content="${FRAME_CSP}">`
    + '<meta name="referrer" content="no-referrer"><base target="_blank">'
    + '<style>body{font:14px/1.5 system-ui,sans-serif;margin:12px;color:#1d2330;overflow-wrap:anywhere}'
    + 'img{max-width:100%}</style></head><body>'
    + html
    + '</body></html>';
}

export function mailFrame(html) {
  const frame = document.createElement('iframe');
  frame.className = 'mail-html';
  frame.title = 'Message (HTML, sandboxed: no scripts, no remote content)';
  frame.setAttribute('sandbox', SANDBOX);
  frame.setAttribute('referrerpolicy', 'no-referrer');
  frame.srcdoc = policy.createHTML(frameDocument(html));
  return frame;
}
