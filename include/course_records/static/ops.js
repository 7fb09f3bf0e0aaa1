// Inside the Airflow UI this page is shown in a sandboxed frame, which may not navigate the
// window itself. Links to Airflow's own pages (data-airflow) are opened by the window instead:
// an anchor created in the top document navigates it, as if the user had clicked there.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-airflow]");
  if (!link || window.top === window || event.button !== 0 || event.ctrlKey || event.metaKey) {
    return;
  }
  let topDocument;
  try {
    topDocument = window.top.document;
  } catch {
    return; // framed by another origin: let the link open in the frame
  }
  event.preventDefault();
  const anchor = topDocument.createElement("a");
  anchor.href = link.href;
  topDocument.body.appendChild(anchor);
  anchor.click();
  anchor.remove();
});
