from roundtrip import assert_model_roundtrip, criteo_like_columns, criteo_like_rows

from ctrkit.models.deepfm import DeepFM


def test_deepfm_roundtrip(tmp_path):
    columns = criteo_like_columns()
    x, y = criteo_like_rows(512)
    assert_model_roundtrip(DeepFM(columns, columns, dnn_hidden_units=(16, 8)), x, y, columns, tmp_path)
