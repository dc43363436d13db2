#!/bin/sh
# git runs this as GIT_ASKPASS with its prompt as $1 ("Username for ..." / "Password for ...").
# gitfailover sets the two variables on the environment of that one git process only, so the
# secret is never on a command line, in a URL, in git config nor in a credential store.
case "$1" in
  Username*) printf '%s\n' "$GITFAILOVER_GIT_USERNAME" ;;
  *) printf '%s\n' "$GITFAILOVER_GIT_PASSWORD" ;;
esac
