"""The DeepCTR manual's Quick-Start (section 2.1) and FAQ (section 2.4) code, run
as written with only `deepctr` changed to `ctrkit` (and the private
`tensorflow.python.keras` imports changed to `keras`).

Each snippet is kept as the manual prints it and changed by `migrate` alone.
The names a snippet takes from the reader's earlier code (`model`, `data`,
`linear_feature_columns`, ...) come from a small Criteo-like data set written
in the manual's file format. Two FAQ snippets cannot run on TensorFlow 2 at
all and are left out, as README's migration section explains: 2.4.2's
estimator lines (`tf.train.FtrlOptimizer` is TensorFlow 1) and 2.4.3 (it reads
a graph tensor after the fact, which Keras 3 does not keep).
"""

import functools

import keras
import numpy as np
import pandas as pd
import pytest

from ctrkit.data import make_criteo, write_criteo
from ctrkit.data.pipelines import write_tfrecord
from ctrkit.feature_column import DenseFeat, SparseFeat
from ctrkit.models import DeepFM


def migrate(code: str) -> str:
    """The only changes a DeepCTR user makes."""
    return code.replace("tensorflow.python.keras", "keras").replace("deepctr", "ctrkit")


def run(code: str, namespace: dict | None = None) -> dict:
    namespace = dict(namespace or {})
    exec(compile(migrate(code), "<manual>", "exec"), namespace)
    return namespace


QUICK_START_STEP_1 = """
import pandas as pd
from sklearn.preprocessing import LabelEncoder, MinMaxScaler
from sklearn.model_selection import train_test_split
from deepctr.models import DeepFM
from deepctr.feature_column import SparseFeat, DenseFeat, get_feature_names

data = pd.read_csv('./criteo_sample.txt')

sparse_features = ['C' + str(i) for i in range(1, 27)]
dense_features = ['I' + str(i) for i in range(1, 14)]

data[sparse_features] = data[sparse_features].fillna('-1', )
data[dense_features] = data[dense_features].fillna(0, )
target = ['label']
"""

QUICK_START_LABEL_ENCODING = """
for feat in sparse_features:
    lbe = LabelEncoder()
    data[feat] = lbe.fit_transform(data[feat])
"""

QUICK_START_MIN_MAX = """
mms = MinMaxScaler(feature_range=(0,1))
data[dense_features] = mms.fit_transform(data[dense_features])
"""

QUICK_START_LABEL_ENCODED_COLUMNS = """
fixlen_feature_columns = [SparseFeat(feats, vocabulary_size=data[feats].max() + 1,embedding_dim=4)
                       for i,feats in enumerate(sparse_features)] + [DenseFeat(feats, 1,)
                      for feats in dense_features]
"""

QUICK_START_HASHED_COLUMNS = """
fixlen_feature_columns = [SparseFeat(feats, vocabulary_size=1e6,embedding_dim=4, use_hash=True, dtype='string')  # the input is string
                          for feats in sparse_features] + [DenseFeat(feats, 1, )
                          for feats in dense_features]
"""

QUICK_START_STEP_3 = """
dnn_feature_columns = fixlen_feature_columns
linear_feature_columns = fixlen_feature_columns

feature_names = get_feature_names(linear_feature_columns + dnn_feature_columns)
"""

QUICK_START_STEP_4 = """
train, test = train_test_split(data, test_size=0.2)

train_model_input = {name:train[name].values for name in feature_names}
test_model_input = {name:test[name].values for name in feature_names}


model = DeepFM(linear_feature_columns,dnn_feature_columns,task='binary')
model.compile("adam", "binary_crossentropy",
              metrics=['binary_crossentropy'], )

history = model.fit(train_model_input, train[target].values,
                    batch_size=256, epochs=10, verbose=2, validation_split=0.2, )
pred_ans = model.predict(test_model_input, batch_size=256)
"""

ESTIMATOR_QUICK_START = """
import tensorflow as tf

from tensorflow.python.ops.parsing_ops import FixedLenFeature
from deepctr.estimator.inputs import input_fn_tfrecord
from deepctr.estimator.models import DeepFMEstimator

sparse_features = ['C' + str(i) for i in range(1, 27)]
dense_features = ['I' + str(i) for i in range(1, 14)]

dnn_feature_columns = []
linear_feature_columns = []

for i, feat in enumerate(sparse_features):
    dnn_feature_columns.append(tf.feature_column.embedding_column(
        tf.feature_column.categorical_column_with_identity(feat, 1000), 4))
    linear_feature_columns.append(tf.feature_column.categorical_column_with_identity(feat, 1000))
for feat in dense_features:
    dnn_feature_columns.append(tf.feature_column.numeric_column(feat))
    linear_feature_columns.append(tf.feature_column.numeric_column(feat))

feature_description = {k: FixedLenFeature(dtype=tf.int64, shape=1) for k in sparse_features}
feature_description.update(
    {k: FixedLenFeature(dtype=tf.float32, shape=1) for k in dense_features})
feature_description['label'] = FixedLenFeature(dtype=tf.float32, shape=1)

train_model_input = input_fn_tfrecord('./criteo_sample.tr.tfrecords', feature_description, 'label', batch_size=256,
                                      num_epochs=1, shuffle_factor=10)
test_model_input = input_fn_tfrecord('./criteo_sample.te.tfrecords', feature_description, 'label',
                                     batch_size=2 ** 14, num_epochs=1, shuffle_factor=0)

model = DeepFMEstimator(linear_feature_columns, dnn_feature_columns, task='binary')

model.train(train_model_input)
eval_result = model.evaluate(test_model_input)

print(eval_result)
"""

FAQ_SAVE_WEIGHTS = """
model = DeepFM()
model.save_weights('DeepFM_w.h5')
model.load_weights('DeepFM_w.h5')
"""

FAQ_SAVE_MODEL = """
from tensorflow.python.keras.models import save_model, load_model
model = DeepFM()
save_model(model, 'DeepFM.h5')# save_model, same as before

from deepctr.layers import custom_objects
model = load_model('DeepFM.h5',custom_objects)# load_model,just add a parameter
"""

FAQ_LEARNING_RATE = """
import deepctr
from tensorflow.python.keras.optimizers import Adam,Adagrad
from tensorflow.python.keras.callbacks import EarlyStopping

model = deepctr.models.DeepFM(linear_feature_columns,dnn_feature_columns)
model.compile(Adagrad(0.1024),'binary_crossentropy',metrics=['binary_crossentropy'])

es = EarlyStopping(monitor='val_binary_crossentropy')
history = model.fit(model_input, data[target].values,batch_size=256, epochs=10, verbose=2, validation_split=0.2,callbacks=[es] )
"""

FAQ_EMBEDDINGS = """
feature_columns = [SparseFeat('user_id',120,),SparseFeat('item_id',60,),SparseFeat('cate_id',60,)]

def get_embedding_weights(dnn_feature_columns,model):
    embedding_dict = {}
    for fc in dnn_feature_columns:
        if hasattr(fc,'embedding_name'):
            if fc.embedding_name is not None:
                name = fc.embedding_name
            else:
                name = fc.name
            embedding_dict[name] = model.get_layer("sparse_emb_"+name).get_weights()[0]
    return embedding_dict

embedding_dict = get_embedding_weights(feature_columns,model)

user_id_emb = embedding_dict['user_id']
item_id_emb = embedding_dict['item_id']
"""

FAQ_LONG_DENSE_VECTOR = """
from deepctr.models import DeepFM
from deepctr.feature_column import SparseFeat, DenseFeat,get_feature_names
import numpy as np

feature_columns = [SparseFeat('user_id',120,),SparseFeat('item_id',60,),DenseFeat("pic_vec",5)]
fixlen_feature_names = get_feature_names(feature_columns)

user_id = np.array([[1],[0],[1]])
item_id = np.array([[30],[20],[10]])
pic_vec = np.array([[0.1,0.5,0.4,0.3,0.2],[0.1,0.5,0.4,0.3,0.2],[0.1,0.5,0.4,0.3,0.2]])
label = np.array([1,0,1])

model_input = {'user_id':user_id,'item_id':item_id,'pic_vec':pic_vec}

model = DeepFM(feature_columns,feature_columns)
model.compile('adagrad','binary_crossentropy')
model.fit(model_input,label)
"""

FAQ_PRETRAINED_EMBEDDINGS = """
import numpy as np
import tensorflow as tf
from deepctr.models import DeepFM
from deepctr.feature_column import SparseFeat,get_feature_names

pretrained_item_weights = np.random.randn(60,4)
pretrained_weights_initializer = tf.initializers.identity(pretrained_item_weights)

feature_columns = [SparseFeat('user_id',120,),SparseFeat('item_id',60,embedding_dim=4,embeddings_initializer=pretrained_weights_initializer,trainable=False)]
fixlen_feature_names = get_feature_names(feature_columns)

user_id = np.array([[1],[0],[1]])
item_id = np.array([[30],[20],[10]])
label = np.array([1,0,1])

model_input = {'user_id':user_id,'item_id':item_id,}

model = DeepFM(feature_columns,feature_columns)
model.compile('adagrad','binary_crossentropy')
model.fit(model_input,label)
"""


@pytest.fixture
def criteo_sample(tmp_path, monkeypatch):
    """A `criteo_sample.txt` of the manual's format in the working directory."""
    write_criteo(make_criteo(300, seed=7).frame, tmp_path / "criteo_sample.txt")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_quick_start_with_label_encoding(criteo_sample):
    code = QUICK_START_STEP_1 + QUICK_START_LABEL_ENCODING + QUICK_START_MIN_MAX
    ns = run(code + QUICK_START_LABEL_ENCODED_COLUMNS + QUICK_START_STEP_3 + QUICK_START_STEP_4)
    history, pred_ans = ns["history"].history, ns["pred_ans"]
    assert len(history["loss"]) == 10 and np.isfinite(history["val_binary_crossentropy"]).all()
    assert pred_ans.shape == (len(ns["test"]), 1) and ((pred_ans > 0) & (pred_ans < 1)).all()


def test_quick_start_hashing_on_the_fly_columns(criteo_sample):
    # Training on these columns is step 4 again, tested above; with 52 tables
    # of a million rows it is left out of the suite.
    ns = run(QUICK_START_STEP_1 + QUICK_START_MIN_MAX + QUICK_START_HASHED_COLUMNS + QUICK_START_STEP_3)
    sparse = [fc for fc in ns["linear_feature_columns"] if isinstance(fc, SparseFeat)]
    assert len(sparse) == 26 and all(fc.use_hash and fc.dtype == "string" and fc.vocabulary_size == 10**6 for fc in sparse)
    assert ns["feature_names"] == [f"C{i}" for i in range(1, 27)] + [f"I{i}" for i in range(1, 14)]


def test_estimator_quick_start(tmp_path, monkeypatch, capsys):
    frame = make_criteo(500, seed=9).frame
    sparse, dense = [f"C{i}" for i in range(1, 27)], [f"I{i}" for i in range(1, 14)]
    for name in sparse:  # the manual's TFRecord samples hold label-encoded ids and scaled counts
        frame[name] = pd.factorize(frame[name].fillna("-1"), sort=True)[0] % 1000
    frame[dense] = frame[dense].fillna(0) / frame[dense].fillna(0).max().replace(0, 1)
    columns = [SparseFeat(c, 1000, dtype="int64") for c in sparse] + [DenseFeat(c) for c in dense]
    write_tfrecord(frame.iloc[:400], str(tmp_path / "criteo_sample.tr.tfrecords"), columns)
    write_tfrecord(frame.iloc[400:], str(tmp_path / "criteo_sample.te.tfrecords"), columns)
    monkeypatch.chdir(tmp_path)
    ns = run(ESTIMATOR_QUICK_START)
    result = ns["eval_result"]
    assert result["global_step"] == 2  # 400 rows in batches of 256
    assert 0.0 <= result["AUC"] <= 1.0 and np.isfinite(result["LogLoss"])
    assert "AUC" in capsys.readouterr().out


def _toy_columns():
    return [SparseFeat("user_id", 120), SparseFeat("item_id", 60), DenseFeat("pic_vec", 5)]


def _toy_input(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return {"user_id": rng.integers(0, 120, n), "item_id": rng.integers(0, 60, n), "pic_vec": rng.random((n, 5))}


def test_faq_save_and_load_weights_and_models(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    columns = _toy_columns()
    model_of_the_reader = functools.partial(DeepFM, columns, columns, dnn_hidden_units=(8,))
    x = _toy_input()

    ns = run(FAQ_SAVE_WEIGHTS, {"DeepFM": model_of_the_reader})
    assert (tmp_path / "DeepFM_w.h5").is_file()
    weights_model = ns["model"]

    ns = run(FAQ_SAVE_MODEL, {"DeepFM": model_of_the_reader})
    reloaded = ns["model"]
    assert type(reloaded).__name__ == "CTRModel"
    assert reloaded.predict(x, verbose=0).shape == (64, 1)
    # the reloaded file is the saved model: loading its weights into the first one gives its scores
    weights_model.load_weights("DeepFM.h5")
    np.testing.assert_allclose(weights_model.predict(x, verbose=0), reloaded.predict(x, verbose=0), atol=1e-6)


def test_faq_learning_rate_and_early_stopping(criteo_sample):
    data = pd.read_csv("criteo_sample.txt")
    linear_feature_columns = dnn_feature_columns = [SparseFeat("C6", 1000, use_hash=True, dtype="string"), DenseFeat("I2")]
    model_input = {"C6": data["C6"].fillna("").values, "I2": data["I2"].fillna(0).values}
    context = dict(
        data=data,
        target=["label"],
        model_input=model_input,
        linear_feature_columns=linear_feature_columns,
        dnn_feature_columns=dnn_feature_columns,
    )
    ns = run(FAQ_LEARNING_RATE, context)
    model, history = ns["model"], ns["history"].history
    assert np.isclose(float(model.optimizer.learning_rate), 0.1024)
    assert 1 <= len(history["loss"]) <= 10 and "val_binary_crossentropy" in history


def test_faq_embedding_vectors_of_deepfm():
    columns = [SparseFeat("user_id", 120), SparseFeat("item_id", 60), SparseFeat("cate_id", 60)]
    model = DeepFM(columns, columns, dnn_hidden_units=(8,))
    ns = run(FAQ_EMBEDDINGS, {"SparseFeat": SparseFeat, "model": model})
    assert ns["user_id_emb"].shape == (120, 4) and ns["item_id_emb"].shape == (60, 4)
    np.testing.assert_array_equal(ns["item_id_emb"], keras.ops.convert_to_numpy(model.get_layer("sparse_emb_item_id").embeddings))


def test_faq_long_dense_feature_vector():
    ns = run(FAQ_LONG_DENSE_VECTOR)
    assert ns["model"].get_layer("pic_vec").output.shape == (None, 5)
    assert ns["model"].predict(ns["model_input"], verbose=0).shape == (3, 1)


def test_faq_pretrained_and_frozen_embeddings():
    ns = run(FAQ_PRETRAINED_EMBEDDINGS)
    table = ns["model"].get_layer("sparse_emb_item_id")
    assert not table.trainable and table.embeddings.shape == (60, 4)
    # frozen: what the initializer gave is still there after `fit`
    expected = keras.ops.convert_to_numpy(ns["pretrained_weights_initializer"]((60, 4)))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(table.embeddings), expected)
