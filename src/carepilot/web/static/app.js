// Small progressive enhancements; every page works without JavaScript.
document.addEventListener("DOMContentLoaded", () => {
  // An override needs a reason: block the submit and point at the select until one is chosen.
  document.querySelectorAll("form.feedback").forEach((form) => {
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
