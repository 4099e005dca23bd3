from hpo.cli.main import run

run()
