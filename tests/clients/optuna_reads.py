"""Reads distiller studies the way a user's own tools do: optuna-dashboard's HTTP API (served
on a loopback port) and Optuna's analysis. Prints one JSON object, keyed by study name.

usage: python3 optuna_reads.py STORAGE_URL STUDY [STUDY ...]
"""
import json
import sys
import threading
import urllib.request
import warnings
from wsgiref.simple_server import WSGIRequestHandler, make_server

import optuna
import optuna_dashboard


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def get(base, path):
    with urllib.request.urlopen(base + path, timeout=120) as response:
        return json.load(response)


def main():
    url, names = sys.argv[1], sys.argv[2:]
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    server = make_server("127.0.0.1", 0, optuna_dashboard.wsgi(url), handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        ids = {s["study_name"]: s["study_id"] for s in get(base, "/api/studies")["study_summaries"]}
        seen = {}
        for name in names:
            detail = get(base, f"/api/studies/{ids[name]}?after=0")
            importances = get(base, f"/api/studies/{ids[name]}/param_importances")["param_importances"][0]
            # What Optuna says while reading the study (on distributions it cannot store, say).
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                study = optuna.load_study(study_name=name, storage=url)
                trials = study.trials
            analysis = optuna.importance.get_param_importances(study)
            optuna.visualization.plot_slice(study)
            optuna.visualization.plot_parallel_coordinate(study)
            complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
            seen[name] = {
                "dashboard_trials": len(detail["trials"]),
                "dashboard_params": sorted(p["name"] for p in detail["union_search_space"]),
                "dashboard_importances": sorted(p["name"] for p in importances),
                "trials": len(trials),
                "importances": sorted(analysis),
                "params": sorted({p for t in trials for p in t.params}),
                "finished_without_end": sum(t.state.is_finished() and t.datetime_complete is None for t in trials),
                "durations": sum(t.duration is not None for t in complete),
                "warnings": [str(w.message) for w in caught if "optuna" in w.filename],
            }
        print(json.dumps(seen))
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
