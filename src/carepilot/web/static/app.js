// Small progressive enhancements; every page works without JavaScript.
document.addEventListener("DOMContentLoaded", () => {
  // An override needs a reason: block the submit and point at the select until one is chosen.
  document.querySelectorAll("form.feedback").forEach((form) => {
    const select = form.querySelector("select[name=reason]");
    // A pending "choose a reason" message would block every later submit of the form, Accept included.
    if (select) select.addEventListener("change", () => select.setCustomValidity(""));
    form.querySelectorAll("button").forEach((b) => b.addEventListener("click", () => select && select.setCustomValidity("")));
    form.addEventListener("submit", (event) => {
      const button = event.submitter;
      const reason = form.querySelector("select[name=reason]");
      if (button && button.value === "overridden" && reason && !reason.value) {
        event.preventDefault();
        reason.setCustomValidity("Choose why this is overridden");
        reason.reportValidity();
      } else if (reason) {
        reason.setCustomValidity("");
      }
    });
  });
  // Filters apply as soon as a select changes.
  document.querySelectorAll("form.filters select").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });
});
