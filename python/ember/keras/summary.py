"""Model.summary(): Keras' table of layers (name and type, output shape, parameter count) and the totals. For a
wrapped PyTorch-style module the rows are its direct children (output shapes recorded by a traced sample)."""
from .. import _C
from .layers.base import Layer

__all__ = ["summary"]


def _shape_text(shape):
    if shape is None:
        return "?"
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _counts(module):
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in module.parameters() if not p.requires_grad)
    buffers = sum(b.numel() for b in module.buffers() if b.dtype == _C.dtype.float32)
    return trainable, frozen + buffers


def _rows(model):
    from .sequential import Sequential
    if isinstance(model, Sequential):
        if not model.built:
            raise ValueError(f"summary: model '{model.name}' has not been built yet: give input_shape to its first "
                             f"layer (or start it with keras.Input(shape)), call model.build((None, ...)), or fit "
                             f"it on data first")
        children = [(layer.name if isinstance(layer, Layer) else str(index), layer)
                    for index, layer in enumerate(model.layers)]
    else:
        root = model._modules.get("module", model)
        children = list(root.named_children())
    rows = []
    for name, child in children:
        shape = getattr(child, "output_shape", None) if isinstance(child, Layer) else \
            getattr(model, "_child_output_shapes", {}).get(name)
        rows.append((f"{name} ({type(child).__name__})", _shape_text(shape), sum(_counts(child))))
    return rows


def summary(model, line_length=None, print_fn=None):
    print_fn = print_fn or print
    rows = _rows(model)
    widths = [max([33] + [len(r[0]) + 2 for r in rows]), max([26] + [len(r[1]) + 2 for r in rows]), 12]
    if line_length:
        widths[0] = max(line_length - widths[1] - widths[2], 10)
    total_width = sum(widths)

    def line(cells):
        return "".join(str(cell).ljust(width) for cell, width in zip(cells, widths)).rstrip()

    print_fn(f'Model: "{model.name}"')
    print_fn("_" * total_width)
    print_fn(line(["Layer (type)", "Output Shape", "Param #"]))
    print_fn("=" * total_width)
    for index, row in enumerate(rows):
        print_fn(line([row[0], row[1], f"{row[2]:,}"]))
        if index != len(rows) - 1:
            print_fn("")
    print_fn("=" * total_width)
    trainable, non_trainable = _counts(model)
    total = trainable + non_trainable
    print_fn(f"Total params: {total:,} ({_bytes_text(total * 4)})")
    print_fn(f"Trainable params: {trainable:,} ({_bytes_text(trainable * 4)})")
    print_fn(f"Non-trainable params: {non_trainable:,} ({_bytes_text(non_trainable * 4)})")
    print_fn("_" * total_width)


def _bytes_text(size):
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}" if unit != "B" else f"{size} B"
        size /= 1024
