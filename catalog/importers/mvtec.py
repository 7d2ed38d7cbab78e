from pathlib import Path

from .base import Importer, ImportFormatError, ImportItem, RegionSpec, image_files, register, relative_path

CATEGORY_FOLDERS = ("train", "test", "ground_truth")


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
        found = sorted(p for p in _folders(self.root) if (p / "test").is_dir())
        if not found:
            raise ImportFormatError(f"{self.root} holds no MVTec category (a folder with test/ inside)")
        return found

    def discover(self):
        categories = self.categories()
        if categories != [self.root]:
            for folder in _folders(self.root):
                if folder not in categories:
                    yield self._unread(folder, "has no test/ folder, so it is not read as an MVTec category")
        for category in categories:
            product = category.name
            for folder in _folders(category):
                if folder.name not in CATEGORY_FOLDERS:
                    yield self._unread(folder, "is not an MVTec folder (train, test, ground_truth)")
            for split in ("train", "test"):
                split_dir = category / split
                if not split_dir.is_dir():
                    continue
                for defect_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
                    for image_path in image_files(defect_dir):
                        yield self._item(category, defect_dir.name, image_path, product)

    def _unread(self, folder: Path, why: str) -> ImportItem:
        """A folder the layout does not read (MVTec AD 2's test_public/, a category without test/), as a row."""
        relpath = relative_path(folder, self.root)
        return ImportItem(relpath=relpath, image_path=None, problem=f"{relpath} {why}: nothing imported from it")

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


def _folders(parent: Path) -> list[Path]:
    """The visible subfolders of a folder, sorted (hidden ones such as .ipynb_checkpoints are no data)."""
    return sorted(p for p in parent.iterdir() if p.is_dir() and not p.name.startswith("."))
