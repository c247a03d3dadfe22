// One hosted field. What is typed here goes to this gateway only; the page gets a token.
(function () {
  "use strict";
  var params = new URLSearchParams(window.location.search);
  var field = params.get("field");
  var session = params.get("session");
  var parentOrigin = params.get("parent") || "*";
  var input = document.getElementById("value");
  input.setAttribute("aria-label", params.get("title") || field);
  input.placeholder = params.get("placeholder") || "";
  if (field === "ccnumber" || field === "cvv" || field === "checkaba" || field === "checkaccount") {
    input.inputMode = "numeric";
  }

  function post(path, body) {
    return fetch(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)})
      .then(function (answer) { return answer.json(); });
  }

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || !event.data || event.data.session !== session) return;
    if (event.data.type === "collect") {
      post("/token/field", {session: session, field: field, value: input.value}).then(function () {
        window.parent.postMessage({type: "stored", session: session, field: field}, parentOrigin);
      });
    } else if (event.data.type === "tokenize") {
      post("/token/tokenize", {session: session, tokenization_key: event.data.key,
                               payment_type: event.data.payment_type})
        .then(function (response) {
          window.parent.postMessage({type: "token", session: session, response: response}, parentOrigin);
        });
    }
  });
})();
