from .base import Importer, ImportFormatError, ImportItem, RegionSpec, register

PHOTO_SUFFIXES = (".jpg", ".jpeg")


@register
class MagneticTileImporter(Importer):
    """Magnetic Tile defect dataset: MT_<Class>/Imgs/<stem>.jpg with a same-stem .png mask.

    The masks are anti-aliased (edge pixels between 0 and 255), so they are thresholded at 128.
    MT_Free holds defect-free tiles: their masks are empty and give no region.
    """

    format_name = "magnetic-tile"
    description = "Magnetic Tile: MT_<Class>/Imgs/<stem>.jpg + <stem>.png mask"

    def discover(self):
        # PATH may be the dataset folder (holding MT_<Class> folders) or one MT_<Class> folder.
        if self.root.name.startswith("MT_") and (self.root / "Imgs").is_dir():
            class_dirs = [self.root]
        else:
            class_dirs = sorted(p for p in self.root.iterdir() if p.is_dir() and p.name.startswith("MT_"))
        if not class_dirs:
            raise ImportFormatError(f"{self.root} holds no MT_<Class> folder")
        for class_dir in class_dirs:
            label = class_dir.name.removeprefix("MT_")
            images_dir = class_dir / "Imgs"
            if not images_dir.is_dir():
                problem = f"{class_dir.name} has no Imgs/ folder: nothing imported from it"
                yield ImportItem(relpath=class_dir.name, image_path=None, problem=problem)
                continue
            # The masks are the .png files beside the photos; a copy may have upper-cased the .jpg.
            photos = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
            for image_path in photos:
                mask_path = image_path.with_suffix(".png")
                regions = [] if label == "Free" else [RegionSpec(label=label, mask_path=mask_path, threshold=128)]
                if regions and not mask_path.is_file():
                    yield ImportItem(
                        relpath=str(image_path.relative_to(self.root)),
                        image_path=None,
                        problem=f"mask {mask_path.relative_to(self.root)} is missing",
                    )
                    continue
                yield self.item(image_path, product="magnetic tile", domain="magnetic materials", regions=regions)
