// Order Summary: pick a stored method with "Use", or type a new one into the gateway's hosted fields.
// Pay is disabled while the request runs; the form's Idempotency-Key makes any repeat charge once.
"use strict";
(function () {
  const form = document.getElementById("pay-form");
  if (!form) return;
  const payButton = form.querySelector("button.pay");
  const problem = form.querySelector(".problem");
  const newMethod = form.querySelector(".new-method");
  const chosen = document.createElement("input");
  chosen.type = "hidden"; chosen.name = "method_id"; chosen.value = "";
  form.appendChild(chosen);

  const visibleKind = () => {
    const radio = form.querySelector("input[name=method_kind]:checked");
    if (radio) return radio.value;
    const shown = form.querySelector(".kind:not([hidden])");
    return shown ? shown.dataset.kind : "credit_card";
  };
  form.querySelectorAll("input[name=method_kind]").forEach((radio) => radio.addEventListener("change", () => {
    form.querySelectorAll(".kind").forEach((k) => { k.hidden = k.dataset.kind !== radio.value; });
  }));

  form.querySelectorAll("button.use-method").forEach((button) => button.addEventListener("click", (event) => {
    event.preventDefault();
    const using = button.getAttribute("aria-pressed") !== "true";
    form.querySelectorAll("button.use-method").forEach((b) => { b.setAttribute("aria-pressed", "false"); b.textContent = "Use"; });
    chosen.value = using ? button.value : "";
    if (using) { button.setAttribute("aria-pressed", "true"); button.textContent = "Using"; }
    newMethod.hidden = using;
  }));

  const fields = {};
  ["ccnumber", "ccexp", "cvv", "checkaba", "checkaccount", "checkname"].forEach((name) => {
    if (document.getElementById(name)) fields[name] = {selector: "#" + name};
  });
  let submitting = false;
  const send = () => { submitting = true; payButton.disabled = true; payButton.textContent = "Paying…"; form.submit(); };
  if (window.CollectJS) {
    window.CollectJS.configure({
      variant: "inline", fields: fields,
      callback: (response) => { form.elements.payment_token.value = response.token; send(); },
      validationCallback: (field, valid, message) => {
        problem.textContent = "The payment details are not valid: " + message;
        problem.hidden = false; payButton.disabled = false; payButton.textContent = "Pay"; submitting = false;
      },
    });
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (submitting) return;  // a double click pays once
    problem.hidden = true;
    if (chosen.value) { send(); return; }
    if (!window.CollectJS) { problem.textContent = "The payment gateway's card fields did not load."; problem.hidden = false; return; }
    submitting = true; payButton.disabled = true; payButton.textContent = "Paying…";
    form.querySelectorAll(".kind").forEach((k) => { if (k.dataset.kind !== visibleKind()) k.hidden = true; });
    window.CollectJS.startPaymentRequest();
  });
})();
