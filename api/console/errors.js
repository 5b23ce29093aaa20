// Collects every uncaught error, unhandled rejection and Content-Security-Policy
// violation in `window.__vigilErrors`, so the browser tests can assert that the
// console ran clean. Imported first by app.js, before anything can fail.

const errors = [];
window.__vigilErrors = errors;

window.addEventListener("error", (e) => {
  errors.push(`error: ${e.message} (${e.filename}:${e.lineno})`);
});
window.addEventListener("unhandledrejection", (e) => {
  const reason = e.reason;
  errors.push(`unhandled rejection: ${reason && reason.stack ? reason.stack : String(reason)}`);
});
document.addEventListener("securitypolicyviolation", (e) => {
  errors.push(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
});

// The console never logs errors itself; anything that does is a bug worth seeing.
const consoleError = console.error.bind(console);
console.error = (...args) => {
  errors.push(`console.error: ${args.map(String).join(" ")}`);
  consoleError(...args);
};
