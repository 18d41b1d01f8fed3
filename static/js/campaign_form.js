// The campaign form: a broadcast's schedule and a journey's trigger, the other greyed
// (still editable) as the kind changes.
document.addEventListener("DOMContentLoaded", () => {
  const kind = document.getElementById("id_kind");
  if (!kind) return;
  const update = () => {
    const journey = kind.value === "journey";
    document.querySelectorAll(".campaign-journey").forEach((el) => el.classList.toggle("campaign-inactive", !journey));
    document.querySelectorAll(".campaign-schedule").forEach((el) => el.classList.toggle("campaign-inactive", journey));
  };
  kind.addEventListener("change", update);
  update();
});
