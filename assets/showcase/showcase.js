// Pagepipe Home: draws the rating histogram from the reviews section's JSON
// data block as soon as that section is in place, whichever mode delivered it.
(function () {
  var slot = document.getElementById("reviews");
  if (!slot) return;
  function draw() {
    var block = document.getElementById("reviews-data");
    var target = document.getElementById("histogram");
    if (!block || !target || target.childElementCount) return;
    var data = JSON.parse(block.textContent);
    var total = data.histogram.reduce(function (a, b) { return a + b; }, 0) || 1;
    for (var stars = 5; stars >= 1; stars--) {
      var count = data.histogram[stars - 1];
      var row = document.createElement("div");
      row.className = "row";
      row.innerHTML = '<span></span><span class="track"><span class="fill"></span></span><span></span>';
      row.children[0].textContent = stars + "★";
      row.children[2].textContent = count;
      target.appendChild(row);
      var fill = row.querySelector(".fill");
      fill.style.width = Math.round((100 * count) / total) + "%";
    }
  }
  draw();
  new MutationObserver(draw).observe(slot, { childList: true });
})();
