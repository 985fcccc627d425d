"""Writes trials into a distiller study with Optuna's own API, as a user's script would: one
with the parameters of the study's best trial and a higher value, one whose parameters are not a
pipeline of the study's space, and one asked for over the study's distributions and never told
(left RUNNING). Prints their numbers as JSON.

usage: python3 optuna_adds.py STORAGE_URL STUDY VALUE
"""
import json
import sys

import optuna


def main():
    url, name, value = sys.argv[1], sys.argv[2], float(sys.argv[3])
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    # Seeded, so the RUNNING trial's parameters are the same on every run.
    study = optuna.load_study(study_name=name, storage=url, sampler=optuna.samplers.RandomSampler(seed=0))
    best = study.best_trial
    study.add_trial(optuna.trial.create_trial(params=best.params, distributions=best.distributions, value=value))
    foreign = optuna.distributions.FloatDistribution(0.0, 1.0)
    study.add_trial(optuna.trial.create_trial(params={"dropout": 0.5}, distributions={"dropout": foreign}, value=value + 1))
    running = study.ask(fixed_distributions=best.distributions)
    numbers = [t.number for t in study.trials]
    print(json.dumps({"added": numbers[-3], "foreign": numbers[-2], "running": running.number, "best": study.best_value}))


if __name__ == "__main__":
    main()
