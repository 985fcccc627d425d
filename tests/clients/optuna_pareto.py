"""Reads a multi-objective distiller study as Optuna and optuna-dashboard do: its directions,
its Pareto front (best_trials) and each trial's user attributes. Prints one JSON object.

usage: python3 optuna_pareto.py STORAGE_URL STUDY
"""
import json
import sys
import threading
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, make_server

import optuna
import optuna_dashboard


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main():
    url, name = sys.argv[1], sys.argv[2]
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name=name, storage=url)
    server = make_server("127.0.0.1", 0, optuna_dashboard.wsgi(url), handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with urllib.request.urlopen(base + "/api/studies", timeout=120) as response:
            ids = {s["study_name"]: s["study_id"] for s in json.load(response)["study_summaries"]}
        with urllib.request.urlopen(base + f"/api/studies/{ids[name]}?after=0", timeout=120) as response:
            detail = json.load(response)
    finally:
        server.shutdown()
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    print(json.dumps({
        "directions": [d.name for d in study.directions],
        "best_trials": sorted(t.number for t in study.best_trials),
        "dashboard_best_trials": sorted(t["number"] for t in detail["best_trials"]),
        "values": {t.number: t.values for t in complete},
        "user_attrs": {t.number: sorted(t.user_attrs) for t in complete},
    }))


if __name__ == "__main__":
    main()
