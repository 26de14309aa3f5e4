// firebase-admin's default sendEach() (HTTP/2) from the service account in argv[2] to
// the tokens in argv[3..]; prints the BatchResponse as one JSON line.
'use strict';
const fs = require('node:fs');
const { initializeApp, cert } = require('firebase-admin/app');
const { getMessaging } = require('firebase-admin/messaging');

async function main() {
  const account = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const app = initializeApp({ credential: cert(account) });
  const messages = process.argv.slice(3).map((token, n) => ({
    token, data: { n: String(n), via: 'node' }, notification: { title: 'Hi from Node' },
  }));
  const batch = await getMessaging(app).sendEach(messages);
  console.log(JSON.stringify({
    successCount: batch.successCount,
    failureCount: batch.failureCount,
    responses: batch.responses.map((r) => ({
      success: r.success,
      messageId: r.messageId || null,
      code: r.error ? r.error.code : null,
      message: r.error ? r.error.message : null,
    })),
  }));
}

main().catch((error) => { console.error(error); process.exit(1); });
