// Preloaded with `node --require`: TLS connections to Google's API hosts go to the
// pullkin emulator instead (PULLKIN_EMULATOR = {"host", "port", "hosts": [...]}).
// firebase-admin has no FCM endpoint setting (FCM_SEND_HOST is a constant, the OAuth
// token URL is google-auth-library's, and sendEach's HTTP/2 session ignores
// httpAgent), so the redirect happens where /etc/hosts would act, plus the port.
// Trust comes from NODE_EXTRA_CA_CERTS; certificate checks stay on.
'use strict';
const tls = require('node:tls');

const target = JSON.parse(process.env.PULLKIN_EMULATOR);
const connect = tls.connect;

tls.connect = function redirected(...args) {
  const callback = typeof args[args.length - 1] === 'function' ? args.pop() : undefined;
  let options = {};
  if (typeof args[0] === 'number' || typeof args[0] === 'string') {
    options.port = args.shift();
    if (typeof args[0] === 'string') options.host = args.shift();
  }
  options = { ...(args[0] || {}), ...options };
  const host = options.host || options.servername;
  if (target.hosts.includes(host)) {
    options.host = target.host;
    options.port = target.port;
    delete options.servername; // the emulator's certificate names its own address
  }
  return connect.call(this, options, callback);
};
