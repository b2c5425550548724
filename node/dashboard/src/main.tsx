/** The dashboard's entry point (bundled into dist/app.js). */

import { render } from 'preact';
import { App } from './app';

// The page runs under a strict Content-Security-Policy (no inline script
// or style). Anything it blocks is counted on <body data-csp-violations>
// and logged, so a library that tries is noticed (the browser test
// checks the count is zero).
let violations = 0;
document.addEventListener('securitypolicyviolation', (e) => {
  violations++;
  document.body.dataset['cspViolations'] = String(violations);
  console.error(`Content-Security-Policy blocked ${e.blockedURI || 'inline code'} (${e.violatedDirective})`);
});
document.body.dataset['cspViolations'] = '0';

render(<App />, document.getElementById('app')!);
