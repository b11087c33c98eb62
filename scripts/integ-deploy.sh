#!/usr/bin/env bash
# Runs an integration test against a real account (README, "Integration test"): deploys
# test/integ/<test> (default integ.gate.ts) with the CDK CLI, whose assertion stack runs the
# assertions while it deploys (a failed assertion fails the deployment), then destroys both
# stacks, also when something failed. Needs credentials and a bootstrapped account and Region
# (npx cdk bootstrap); the Region comes from AWS_REGION (or AWS_DEFAULT_REGION).
#
#   AWS_REGION=eu-west-1 scripts/integ-deploy.sh [integ.gate.ts] [--keep]
#
# --keep leaves the stacks for inspection (destroy them later with the same command and --destroy).
set -euo pipefail
cd "$(dirname "$0")/.."
test=integ.gate.ts keep=false only_destroy=false
for arg in "$@"; do
  case $arg in
    --keep) keep=true ;;
    --destroy) only_destroy=true ;;
    integ.*.ts) test=$arg ;;
    *) echo "integ-deploy: unknown argument $arg" >&2; exit 2 ;;
  esac
done
[[ -f test/integ/$test ]] || { echo "integ-deploy: no test/integ/$test" >&2; exit 2; }
: "${AWS_REGION:=${AWS_DEFAULT_REGION:-}}"
[[ -n $AWS_REGION ]] || { echo "integ-deploy: set AWS_REGION" >&2; exit 2; }
export AWS_REGION TS_NODE_PROJECT=tsconfig.json
out=$(mktemp -d)
app="node -r ts-node/register/transpile-only test/integ/$test"

destroy() {
  npx cdk destroy --app "$app" --output "$out" --all --force \
    || echo "integ-deploy: destroy failed; delete the stacks AemCryptoKeysInteg and GateIntegDefaultTestDeployAssert* by hand" >&2
  rm -rf "$out"
}
if [[ $only_destroy == true ]]; then destroy; exit 0; fi
[[ $keep == true ]] || trap destroy EXIT

npx cdk deploy --app "$app" --output "$out" --all --require-approval never
echo "integ-deploy: $test: every assertion passed in $AWS_REGION"
