import cv2
import numpy as np

from gan.images import make_grid, plot_losses, to_uint8, write_png


def test_to_uint8_maps_range_and_clips():
    out = to_uint8(np.array([[-1.0, 0.0, 1.0, 2.0, -3.0]]))
    assert out.dtype == np.uint8
    assert out.tolist() == [[0, 128, 255, 255, 0]]


def test_grid_places_tiles_in_rows():
    tiles = np.stack([np.full((4, 4, 3), i * 10, np.uint8) for i in range(6)])
    grid = make_grid(tiles, cols=3, pad=1)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1, 3)
    assert grid[1, 1, 0] == 0 and grid[6, 11, 0] == 50  # first and last tiles
    assert grid[0, 0, 0] == 255  # padding is white


def test_write_png_keeps_rgb_order(tmp_path):
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255
    write_png(tmp_path / "red.png", red)
    assert cv2.imread(str(tmp_path / "red.png"))[0, 0].tolist() == [0, 0, 255]  # BGR on disk


def test_plot_losses_writes_a_png(tmp_path):
    history = {"loss_g": [0.7, 0.9, 1.1, 0.8], "loss_d": [0.7, 0.5, 0.4, 0.6],
               "decision": ["both", "g_only", "g_only", "d_only"]}
    plot_losses(history, tmp_path / "losses.png", epoch_steps=[2, 4])
    image = cv2.imread(str(tmp_path / "losses.png"))
    assert image is not None and image.shape[0] > 100
