#!/bin/sh
# First run of the compose deployment, from anywhere:  sh deploy/setup.sh [ADMIN_NAME]
# 1. writes the missing secrets into .env beside docker-compose.yml (never replaces one),
# 2. creates the first dashboard admin (password from a prompt) unless an account exists
#    (`compose run` first starts what the dashboard needs: Kafka, the topics, Redis),
# 3. starts everything (docker compose up -d).
# Safe to run again: each step skips what is done.
set -eu
cd "$(dirname "$0")/.."
admin="${1:-admin}"

docker compose build
docker compose run --rm --no-deps setup
users="$(docker compose run --rm -T dashboard dashboard list-users)"
case "$users" in
    "no accounts"*)
        echo "Creating the dashboard admin '$admin' (choose a password):"
        docker compose run --rm --no-deps dashboard dashboard add-user "$admin" --role admin ;;
    *) echo "Dashboard accounts exist, none added:"; echo "$users" ;;
esac
docker compose up -d
echo "Started. Dashboard: http://localhost:${DASHBOARD_PORT:-8501} (sign in as an admin)."
