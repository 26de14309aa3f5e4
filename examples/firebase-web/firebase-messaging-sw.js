// The service worker (the SDK registers /firebase-messaging-sw.js).  With no tab of
// the app open, the SDK shows a push's notification itself and hands the payload to
// onBackgroundMessage; here it is also reported to POST /pushes.
import { initializeApp } from "firebase/app";
import { getMessaging, onBackgroundMessage } from "firebase/messaging/sw";

importScripts("/firebase-config.js");  // sets self.firebaseConfig

const messaging = getMessaging(initializeApp(self.firebaseConfig));

onBackgroundMessage(messaging, (payload) =>
  fetch("/pushes", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({kind: "background", payload}),
  }),
);
