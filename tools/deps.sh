#!/bin/sh
# Checks the Debian packages vdmail needs and installs the missing ones
# when run as root (apt-get only; nothing is downloaded from elsewhere).
# usage: tools/deps.sh run|test
set -eu

# To build and run: compiler, libev, BearSSL, tinycdb (library and the
# cdb tool), c-ares, OpenLDAP's client library (vdsync and vdctl link it;
# vdmaild never does), libxcrypt and libargon2 (password checks; vdctl
# hashes new passwords with yescrypt),
# pkg-config, and openssl for the demo's self-signed certificate.
RUN="gcc make pkg-config libev-dev libbearssl-dev libcdb-dev tinycdb libc-ares-dev libldap-dev libcrypt-dev libargon2-dev openssl"
# To test as well: Python for the end-to-end clients, swaks (with
# Net::SSLeay for its STARTTLS), clang with
# its sanitizer and libFuzzer runtimes, strace for the syscall-order test,
# a real slapd and its tools for the directory tests, BIND 9 (named, dig,
# tsig-keygen) for the DNS UPDATE tests and the MX records of the outbound
# tests, Postfix for its smtp-sink (the remote MX of the outbound tests; its
# own instance is never configured nor started), and the POP3 clients the
# POP3 tests drive (fetchmail, mpop, getmail6).
TEST="python3 swaks libnet-ssleay-perl fetchmail mpop getmail6 clang libclang-rt-14-dev strace slapd ldap-utils bind9 bind9-utils bind9-dnsutils postfix"

case "${1:-run}" in
run) want="$RUN" ;;
test) want="$RUN $TEST" ;;
*) echo "usage: $0 run|test" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "vdmail needs these Debian packages:$missing" >&2
	echo "run as root:  apt-get update && apt-get install -y$missing" >&2
	exit 1
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
case " $missing " in
*" postfix "*)
	# Only smtp-sink is wanted: no main.cf, no instance on port 25.
	echo "postfix postfix/main_mailer_type select No configuration" |
		debconf-set-selections
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	;;
esac
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >&2
