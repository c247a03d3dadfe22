// Wallet: a new card typed into the gateway's hosted fields is stored by its token.
"use strict";
(function () {
  const form = document.getElementById("wallet-form");
  if (!form || !window.CollectJS) return;
  const button = form.querySelector("button[type=submit]");
  const problem = form.querySelector(".problem");
  window.CollectJS.configure({
    variant: "inline",
    fields: {ccnumber: {selector: "#ccnumber"}, ccexp: {selector: "#ccexp"}, cvv: {selector: "#cvv"}},
    callback: (response) => { form.elements.payment_token.value = response.token; form.submit(); },
    validationCallback: (field, valid, message) => {
      problem.textContent = "The card details are not valid: " + message; problem.hidden = false; button.disabled = false;
    },
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (button.disabled) return;
    button.disabled = true; problem.hidden = true;
    window.CollectJS.startPaymentRequest();
  });
})();
