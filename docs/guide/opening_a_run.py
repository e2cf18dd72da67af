"""Open a finished (or interrupted) run from Python: its config, metrics, history, result,
checkpointed states, the model's outputs and a fresh evaluation. Nothing in the run
directory is written. Run it: `python docs/guide/opening_a_run.py RUN_DIR`."""
import sys

import numpy as np

import jaxdl

run = jaxdl.load_run(sys.argv[1])
print(f"{run.config.model.name} on {run.config.data.name}; checkpoints at steps {run.steps}")

# metrics.jsonl as a DataFrame: one row per (step, split), a column per metric.
print(run.metrics.pivot(index="step", columns="split", values="loss"))
print("events:", [row["event"] for row in run.history])

# result.json is None until the run finished; evaluate() gives the same scalars again.
if run.result is not None:
    assert run.evaluate("test") == run.result["test"]

# The model in inference mode, at the newest checkpoint or at any checkpointed step.
data = run.built.dataset  # the run's own data, loaded as it trained on it
for step in run.steps:
    outputs = run.apply(data.x_test, step=step)
    accuracy = float(np.mean(np.argmax(outputs, axis=-1) == data.y_test))
    print(f"step {step}: test accuracy {accuracy:.4f}")

state = run.state()  # a TrainState: params, opt_state, model_state, step, key
print(f"newest state: step {int(state.step)}")
