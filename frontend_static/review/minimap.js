// The minimap: while part of the image is out of view, a small copy of it in the canvas's corner
// with the view's rectangle; a click or drag there moves the view.

const SIZE = 160; // the long side, CSS pixels

export class Minimap {
  constructor({ canvas, viewer }) {
    this.canvas = canvas;
    this.viewer = viewer;
    if (!canvas) return;
    const move = (event) => {
      const rect = canvas.getBoundingClientRect();
      const { width, height } = viewer.sample;
      const x = ((event.clientX - rect.left) / rect.width) * width;
      const y = ((event.clientY - rect.top) / rect.height) * height;
      viewer.view.centreOn(x, y);
      viewer.emit();
      viewer.requestDraw();
    };
    canvas.addEventListener("pointerdown", (event) => {
      canvas.setPointerCapture(event.pointerId);
      this.dragging = true;
      move(event);
    });
    canvas.addEventListener("pointermove", (event) => this.dragging && move(event));
    canvas.addEventListener("pointerup", () => {
      this.dragging = false;
    });
  }

  draw() {
    const canvas = this.canvas;
    const viewer = this.viewer;
    if (!canvas) return;
    const show = viewer.view.zoomedIn && viewer.image;
    canvas.hidden = !show;
    if (!show) return;
    const { width, height } = viewer.sample;
    const scale = SIZE / Math.max(width, height);
    const w = Math.max(1, Math.round(width * scale));
    const h = Math.max(1, Math.round(height * scale));
    const ratio = window.devicePixelRatio || 1;
    if (canvas.width !== w * ratio) {
      canvas.width = w * ratio;
      canvas.height = h * ratio;
      canvas.style.width = `${w}px`;
      canvas.style.height = `${h}px`;
    }
    const context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.drawImage(viewer.image, 0, 0, w, h);
    const [x, y, vw, vh] = viewer.view.visibleRect();
    context.strokeStyle = "#ffd400";
    context.lineWidth = 1.5;
    context.strokeRect(x * scale, y * scale, vw * scale, vh * scale);
  }
}
