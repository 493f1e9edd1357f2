# Bots imports this folder as the package `config` (config.settings); the ConfigMap is
# mounted read-only, so the file comes with it instead of being written by init-db.
