// Invoice History: "Process Payment" opens the Assign Payment Contact dialog instead of a new page.
"use strict";
(function () {
  const dialog = document.getElementById("assign-contact");
  if (!dialog || typeof dialog.showModal !== "function") return;
  const form = dialog.querySelector("form");
  let opener = null;
  document.querySelectorAll("a.process-payment").forEach((link) => {
    link.setAttribute("role", "button");
    link.addEventListener("click", (event) => {
      event.preventDefault();
      opener = link;
      form.action = `/invoices/${encodeURIComponent(link.dataset.invoice)}/pay`;
      dialog.showModal();
    });
  });
  dialog.querySelector(".close-dialog").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => { if (opener) opener.focus(); });
})();
