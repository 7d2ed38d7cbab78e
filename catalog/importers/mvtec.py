from pathlib import Path

from .base import Importer, ImportFormatError, ImportItem, RegionSpec, image_files, register


@register
class MVTecImporter(Importer):
    """MVTec AD layout (VisA's MVTec-style split too):

        <category>/train/good/000.png
        <category>/test/<defect>/000.png
        <category>/ground_truth/<defect>/000_mask.png

    PATH may be the dataset folder (holding categories) or one category folder.
    """

    format_name = "mvtec"
    description = "MVTec AD / VisA (MVTec-style split): category/{train,test}/<defect>/ + ground_truth masks"

    def categories(self) -> list[Path]:
        if (self.root / "train").is_dir() or (self.root / "test").is_dir():
            return [self.root]
        found = sorted(p for p in self.root.iterdir() if p.is_dir() and (p / "test").is_dir())
        if not found:
            raise ImportFormatError(f"{self.root} holds no MVTec category (a folder with test/ inside)")
        return found

    def discover(self):
        for category in self.categories():
            product = category.name
            for split in ("train", "test"):
                split_dir = category / split
                if not split_dir.is_dir():
                    continue
                for defect_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
                    for image_path in image_files(defect_dir):
                        yield self._item(category, defect_dir.name, image_path, product)

    def _item(self, category: Path, defect: str, image_path: Path, product: str) -> ImportItem:
        if defect == "good":
            return self.item(image_path, product=product)
        mask_dir = category / "ground_truth" / defect
        candidates = [mask_dir / f"{image_path.stem}_mask.png", mask_dir / f"{image_path.stem}.png"]
        mask_path = next((c for c in candidates if c.is_file()), None)
        if mask_path is None:
            relative = candidates[0].relative_to(self.root)
            return ImportItem(
                relpath=str(image_path.relative_to(self.root)),
                image_path=None,
                problem=f"ground-truth mask {relative} is missing",
            )
        return self.item(image_path, product=product, regions=[RegionSpec(label=defect, mask_path=mask_path)])
