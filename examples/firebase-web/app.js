// The page: the Firebase JS SDK's messaging API.  getToken() subscribes (through the
// service worker firebase-messaging-sw.js) and registers with FCM; onMessage() gets the
// pushes that arrive while this tab is open.  Each one is reported to POST /pushes, so a
// test can check exactly what the app received.
import { initializeApp } from "firebase/app";
import {
  deleteToken, getMessaging, getToken, onMessage, onRegistered, onUnregistered,
  register, unregister,
} from "firebase/messaging";

const messaging = getMessaging(initializeApp(self.firebaseConfig));

function report(kind, payload) {
  return fetch("/pushes", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({kind, payload}),
  });
}

onMessage(messaging, (payload) => report("foreground", payload));

// FID-based registration (SDK 13): the FID comes to onRegistered / onUnregistered.
let registered = null;
let unregistered = null;
onRegistered(messaging, (fid) => registered && registered(fid));
onUnregistered(messaging, (fid) => unregistered && unregistered(fid));

function once(set, start) {
  return new Promise((resolve, reject) => {
    set(resolve);
    start().catch(reject);
  });
}

self.pushDemo = {
  token: () => getToken(messaging, {vapidKey: self.vapidKey}),
  deleteToken: () => deleteToken(messaging),
  register: () => once((f) => { registered = f; }, () => register(messaging, {vapidKey: self.vapidKey})),
  unregister: () => once((f) => { unregistered = f; }, () => unregister(messaging)),
};
