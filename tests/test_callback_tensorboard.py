"""DiagnoseCallback(log_dir=...): the notices and the report in TensorBoard, read back from the files.

Every test trains a tiny model on scikit-learn data for a few epochs and reads
the event files as TensorBoard does: text entries by (tag, step), the last one
of a step winning (TensorBoard keeps one entry per step).
"""

from __future__ import annotations

import html
import inspect
import os
import re
import warnings
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from diagnose.keras import DiagnoseCallback
from diagnose.keras import callback as callback_module
from diagnose.keras.tensorboard import NOTICES, REPORT, RUN, VERDICT, Board

from .test_callback import mlp


def events(run: Path) -> list:
    """Every summary value in a run folder's event files, in the order written: (step, value)."""
    found = []
    for path in sorted(run.glob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime_ns):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            found += [(event.step, value) for value in event.summary.value]
    return found


def texts(run: Path) -> dict[tuple[str, int], str]:
    """The text entries TensorBoard shows: {(tag, step): text}, the last one written at a step."""
    return {(value.tag, step): html.unescape(tf.make_ndarray(value.tensor).item().decode())
            for step, value in events(run) if value.metadata.plugin_data.plugin_name == "text"}


def unstable_run(moons, callbacks, epochs=8, **fit_kwargs):
    """SGD at 2 with momentum on moons: a notice and actions within a few epochs."""
    keras.utils.set_random_seed(0)
    model = mlp(2, (32, 32), 1, keras.optimizers.SGD(2.0, momentum=0.9))
    return model.fit(*moons, epochs=epochs, batch_size=32, validation_split=0.25, verbose=0,
                     callbacks=callbacks, **fit_kwargs)


def healthy_run(moons, callbacks, epochs=3, **fit_kwargs):
    keras.utils.set_random_seed(0)
    model = mlp(2, (16,), 1, keras.optimizers.Adam(3e-3))
    return model, model.fit(*moons, epochs=epochs, batch_size=64, validation_split=0.25,
                            verbose=0, callbacks=callbacks, **fit_kwargs)


@pytest.fixture(scope="module")
def acted(moons, tmp_path_factory):
    """One act-mode run with an explicit log_dir: (callback, history, what it printed, texts)."""
    log_dir = tmp_path_factory.mktemp("logs")
    callback = DiagnoseCallback(action="act", verbose=1, log_dir=log_dir)
    printed = []
    original = callback_module._print
    callback_module._print = printed.append
    try:
        history = unstable_run(moons, [callback])
    finally:
        callback_module._print = original
    return callback, history, [line.strip() for line in printed], texts(log_dir / RUN)


def test_each_notice_is_written_at_the_epoch_it_was_announced(acted):
    callback, _, printed, written = acted
    assert callback.first_seen and callback.report.actions  # the run has something to say
    notices = {step: text for (tag, step), text in written.items() if tag == NOTICES}
    # Keras' TensorBoard writes epoch N's epoch_* scalars at step N - 1: the same step here.
    for condition, epoch in callback.first_seen.items():
        (line,) = [p for p in printed if p.startswith(f"Epoch {epoch}: DiagnoseCallback: "
                                                      f"{condition} (")]
        assert line in notices[epoch - 1].split("\n\n")  # the very line it printed
    for action in callback.report.actions:
        entry = notices[int(action.epoch) - 1]
        assert f"Epoch {action.epoch:.0f}: DiagnoseCallback {action.action} (" in entry
        assert action.reason in entry  # in full: an entry stands alone, no "see above"
    announced = set(callback.first_seen.values()) | {int(a.epoch) for a in callback.report.actions}
    assert set(notices) == {e - 1 for e in announced}  # nothing at the quiet epochs


def test_the_final_report_is_markdown_with_the_verdict_at_the_last_epoch(acted):
    callback, history, _, written = acted
    report = callback.report
    last = len(history.history["loss"]) - 1
    assert {tag for tag, step in written if step == last} >= {REPORT, VERDICT}
    assert [step for tag, step in written if tag in (REPORT, VERDICT)] == [last, last]
    text = written[(REPORT, last)]
    assert text.startswith(f"## `{report.source}`: {', '.join(report.conditions)}")
    assert "| condition | rule | where | confidence | evidence |" in text  # a Markdown table
    assert all(f"`{f.rule}`" in text for f in report.findings)
    assert all(f"`{a.action}` - {a.reason}" in text for a in report.actions)
    assert written[(VERDICT, last)] == ", ".join(report.conditions)


def test_the_report_renders_in_tensorboard_as_tables_and_code_blocks(acted):
    """Through TensorBoard's own Markdown renderer (the Text dashboard's)."""
    plugin_util = pytest.importorskip("tensorboard.plugin_util")
    callback, history, _, written = acted
    report = callback.report
    assert report.findings and report.fixes
    page = html.unescape(plugin_util.markdown_to_safe_html(
        written[(REPORT, len(history.history["loss"]) - 1)]))
    assert page.count("<table>") == 1 and page.count("<tr>") == 1 + len(report.findings)
    for i, fix in enumerate(report.fixes, 1):
        assert f"<p>{i}. {fix.text}</p>\n<pre><code>{fix.code}\n</code></pre>" in page
    assert all(f"<li>epoch {a.epoch:.0f}: <code>{a.action}</code> - {a.reason}</li>" in page
               for a in report.actions)


def test_the_tensorboard_callbacks_log_dir_is_picked_up_and_the_steps_line_up(moons, tmp_path):
    pytest.importorskip("tensorboard")  # Keras' TensorBoard callback needs it for its scalars
    callback = DiagnoseCallback(action="act", verbose=0)
    history = unstable_run(moons, [callback, keras.callbacks.TensorBoard(str(tmp_path))])
    assert callback.tensorboard_dir == str(tmp_path / RUN)
    assert {p.name for p in tmp_path.iterdir()} == {"train", "validation", RUN}
    written = texts(tmp_path / RUN)
    keras_steps = [step for step, value in events(tmp_path / "train") if value.tag == "epoch_loss"]
    assert keras_steps == list(range(len(history.history["loss"])))
    assert (REPORT, keras_steps[-1]) in written  # beside the last epoch's epoch_loss
    for condition, epoch in callback.first_seen.items():
        assert condition in written[(NOTICES, keras_steps[epoch - 1])]


def test_an_explicit_log_dir_wins_over_the_tensorboard_callbacks(moons, tmp_path):
    pytest.importorskip("tensorboard")
    callback = DiagnoseCallback(verbose=0, log_dir=tmp_path / "mine")
    healthy_run(moons, [keras.callbacks.TensorBoard(str(tmp_path / "keras")), callback])
    assert callback.tensorboard_dir == str(tmp_path / "mine" / RUN)
    assert (REPORT, 2) in texts(tmp_path / "mine" / RUN)
    assert not (tmp_path / "keras" / RUN).exists()


def test_nothing_is_written_without_a_log_dir_or_a_tensorboard_callback(moons, tmp_path,
                                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    opened = []
    monkeypatch.setattr(callback_module, "Board", lambda *a: opened.append(a))
    callback = DiagnoseCallback(action="act", verbose=0)
    unstable_run(moons, [callback])
    assert callback.report.actions and callback.tensorboard_dir is None
    assert opened == [] and list(tmp_path.iterdir()) == []


def test_log_dir_false_writes_nothing_even_beside_a_tensorboard_callback(moons, tmp_path,
                                                                         monkeypatch):
    opened = []
    monkeypatch.setattr(callback_module, "Board", lambda *a: opened.append(a))
    callback = DiagnoseCallback(action="act", verbose=0, log_dir=False)
    unstable_run(moons, [keras.callbacks.TensorBoard(log_dir=str(tmp_path / "tb")), callback])
    assert opened == [] and callback.tensorboard_dir is None
    assert not (tmp_path / "tb" / "diagnose").exists()


def test_an_unwritable_log_dir_is_one_warning_and_training_completes(moons, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    callback = DiagnoseCallback(action="act", verbose=0, log_dir=blocker)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = unstable_run(moons, [callback])
    ours = [w for w in caught if "DiagnoseCallback" in str(w.message)]
    assert len(ours) == 1 and ours[0].category is UserWarning
    assert "cannot write to TensorBoard" in str(ours[0].message)
    assert not callback.disabled and callback.tensorboard_dir is None
    assert callback.report.summary["epochs"] == len(history.history["loss"])
    assert callback.report.actions  # the diagnosis went on: it still acted


def test_a_failure_while_writing_is_one_warning_and_the_diagnosis_goes_on(moons, tmp_path,
                                                                          monkeypatch):
    def broken(self, tag, text, step):
        raise OSError("disk full")

    monkeypatch.setattr(Board, "_write", broken)
    callback = DiagnoseCallback(action="act", verbose=0, log_dir=tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        unstable_run(moons, [callback])
    ours = [str(w.message) for w in caught if "DiagnoseCallback" in str(w.message)]
    assert len(ours) == 1 and "disk full" in ours[0]
    assert not callback.disabled and len(callback.report.actions) >= 2


def test_several_fits_in_a_row_each_write_their_report(moons, tmp_path):
    callback = DiagnoseCallback(verbose=0, log_dir=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: the first writer was closed cleanly
        model, _ = healthy_run(moons, [callback], epochs=3)
        model.fit(*moons, epochs=6, initial_epoch=3, batch_size=64, validation_split=0.25,
                  verbose=0, callbacks=[callback])
    assert len(list((tmp_path / RUN).glob("events.out.tfevents.*"))) == 2  # one per fit()
    written = texts(tmp_path / RUN)
    assert {step for tag, step in written if tag == REPORT} == {2, 5}
    assert written[(REPORT, 5)].count("3 epochs") == 1  # the second fit() diagnosed on its own


def test_only_the_chief_writes(moons, tmp_path, monkeypatch):
    monkeypatch.setattr(callback_module, "is_chief", lambda model: False)
    callback = DiagnoseCallback(verbose=0, log_dir=tmp_path)
    healthy_run(moons, [callback])
    assert callback.tensorboard_dir is None and list(tmp_path.iterdir()) == []


def test_a_nan_batch_is_written_at_its_epochs_end_never_from_a_batch_hook(digits, tmp_path,
                                                                          monkeypatch):
    writes = []
    write = Board.write

    def watched(self, tag, text, step):
        hooks = {frame.function for frame in inspect.stack()}
        writes.append((tag, step, hooks))
        write(self, tag, text, step)

    monkeypatch.setattr(Board, "write", watched)
    keras.utils.set_random_seed(0)
    model = mlp(64, (64,), 10, keras.optimizers.SGD(20.0))
    callback = DiagnoseCallback(action="act", batch_checks=True, verbose=0, log_dir=tmp_path)
    model.fit(*digits, epochs=5, batch_size=32, validation_split=0.25, verbose=0,
              callbacks=[callback])
    assert writes and not any("on_train_batch_end" in hooks for _, _, hooks in writes)
    (stop,) = [a for a in callback.report.actions if a.action == "stop_training"]
    assert stop.epoch == 1
    lines = texts(tmp_path / RUN)[(NOTICES, 0)].split("\n\n")
    assert re.match(r"DiagnoseCallback: the loss became (nan|inf) at batch \d+ of epoch 1$",
                    lines[0])
    assert any(line.startswith("Epoch 1: DiagnoseCallback stop_training (") for line in lines)


def test_the_entries_are_what_tf_summary_text_writes(tmp_path):
    """So that TensorBoard's Text dashboard shows them: same plugin, same metadata, a string."""
    pytest.importorskip("tensorboard")
    board = Board(tmp_path / "ours")
    board.write("t", "**bold** | x", 3)
    board.close()
    writer = tf.summary.create_file_writer(str(tmp_path / "theirs" / RUN))
    with writer.as_default():
        tf.summary.text("t", "**bold** | x", step=3)
    writer.close()
    ((step, ours),) = events(tmp_path / "ours" / RUN)
    ((_, theirs),) = events(tmp_path / "theirs" / RUN)
    assert step == 3 and ours.tag == theirs.tag
    assert ours.metadata.plugin_data == theirs.metadata.plugin_data
    assert ours.tensor.dtype == theirs.tensor.dtype
    assert tf.make_ndarray(ours.tensor) == tf.make_ndarray(theirs.tensor)
