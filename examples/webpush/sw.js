// The service worker: show each push as a notification, and report it to the page's
// origin (POST /pushes) so a test can check exactly what arrived and in what order.
let received = 0;  // order in which this worker got its push events

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  const seq = ++received;
  const text = event.data ? event.data.text() : null;
  event.waitUntil(Promise.all([
    fetch("/pushes", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({seq, text}),
    }),
    self.registration.showNotification("Push", {body: text || "(no payload)"}),
  ]));
});
