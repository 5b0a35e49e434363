from gan.errors import counted


def test_counted_gives_the_plural_except_for_one():
    assert [counted(n, "image") for n in (0, 1, 2)] == ["0 images", "1 image", "2 images"]
    assert [counted(n, "epoch") for n in (1, 3)] == ["1 epoch", "3 epochs"]
    assert [counted(n, "batch", "batches") for n in (1, 3)] == ["1 batch", "3 batches"]
