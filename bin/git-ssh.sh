#!/bin/sh
# git runs this as its ssh (GIT_SSH_COMMAND) with ssh's usual arguments ([-p PORT] host command).
# The key and known-hosts file come from the node file through variables that gitfailover sets
# on that one git process, so no path is ever spliced into a shell string. BatchMode: never
# prompt a daemon; IdentitiesOnly: offer the deploy key, not whatever an agent holds; a
# known-hosts file, when given, is the only one trusted (GlobalKnownHostsFile=/dev/null).
set -- -o BatchMode=yes -o "StrictHostKeyChecking=${GITFAILOVER_SSH_STRICT:-yes}" "$@"
if [ -n "${GITFAILOVER_SSH_KEY:-}" ]; then
  set -- -o IdentitiesOnly=yes -o "IdentityFile=$GITFAILOVER_SSH_KEY" "$@"
fi
if [ -n "${GITFAILOVER_SSH_KNOWN_HOSTS:-}" ]; then
  set -- -o "UserKnownHostsFile=$GITFAILOVER_SSH_KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null "$@"
fi
exec ssh "$@"
