// The gateway simulator's Collect.js (shaped like NMI's): inline fields in frames of this origin.
(function () {
  "use strict";
  var script = document.currentScript;
  var origin = new URL(script.src).origin;
  var key = script.getAttribute("data-tokenization-key") || "";
  var bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  var session = Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  var config = null;
  var frames = {};
  var pending = null;
  var TITLES = {ccnumber: "Card Number", ccexp: "Expiration (MM/YY)", cvv: "CVV",
                checkaba: "Routing Number", checkaccount: "Account Number", checkname: "Name on Account"};

  function frameFor(name, spec) {
    var holder = document.querySelector(spec.selector);
    if (!holder) return;
    var frame = document.createElement("iframe");
    var title = spec.title || TITLES[name] || name;
    frame.src = origin + "/token/frame?field=" + encodeURIComponent(name) + "&session=" + session +
      "&title=" + encodeURIComponent(title) + "&placeholder=" + encodeURIComponent(spec.placeholder || "") +
      "&parent=" + encodeURIComponent(window.location.origin);
    frame.title = title;
    frame.className = "collectjs-frame";
    frame.style.border = "0";
    frame.style.width = "100%";
    frame.style.height = "44px";
    holder.appendChild(frame);
    frames[name] = frame;
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== origin || !pending || !event.data || event.data.session !== session) return;
    var message = event.data;
    if (message.type === "stored") {
      pending.stored += 1;
      if (pending.stored === pending.expected) {
        frames[pending.first].contentWindow.postMessage(
          {type: "tokenize", session: session, key: key, payment_type: pending.paymentType}, origin);
      }
    } else if (message.type === "token") {
      var done = pending;
      pending = null;
      if (message.response && message.response.ok) {
        done.callback(message.response);
      } else if (config && typeof config.validationCallback === "function") {
        config.validationCallback("payment", false, (message.response && message.response.error) || "Not valid");
      }
    }
  });

  window.CollectJS = {
    configure: function (options) {
      config = options || {};
      var fields = config.fields || {};
      Object.keys(fields).forEach(function (name) { frameFor(name, fields[name]); });
    },
    startPaymentRequest: function () {
      if (!config) return;
      var names = Object.keys(frames).filter(function (name) {
        return frames[name].offsetParent !== null || frames[name].getClientRects().length > 0;
      });
      var paymentType = names.indexOf("ccnumber") >= 0 ? "cc" : "ck";
      pending = {stored: 0, expected: names.length, first: names[0], paymentType: paymentType,
                 callback: config.callback || function () {}};
      names.forEach(function (name) {
        frames[name].contentWindow.postMessage({type: "collect", session: session}, origin);
      });
    }
  };
})();
