"""Writes trials into a distiller study with Optuna's own API, as a user's script would: one
with the parameters of the study's best trial and a higher value, and one whose parameters are
not a pipeline of the study's space. Prints their numbers as JSON.

usage: python3 optuna_adds.py STORAGE_URL STUDY VALUE
"""
import json
import sys

import optuna


def main():
    url, name, value = sys.argv[1], sys.argv[2], float(sys.argv[3])
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name=name, storage=url)
    best = study.best_trial
    study.add_trial(optuna.trial.create_trial(params=best.params, distributions=best.distributions, value=value))
    foreign = optuna.distributions.FloatDistribution(0.0, 1.0)
    study.add_trial(optuna.trial.create_trial(params={"dropout": 0.5}, distributions={"dropout": foreign}, value=value + 1))
    numbers = [t.number for t in study.trials]
    print(json.dumps({"added": numbers[-2], "foreign": numbers[-1], "best": study.best_value}))


if __name__ == "__main__":
    main()
