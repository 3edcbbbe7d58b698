# vdmail: one non-recursive Makefile.
#   make run     build, install missing Debian packages (as root), start the demo
#   make test    the same set-up, then every test (ends "total: N passed, N failed")
# Objects go to build/rel (-O2) and build/san (ASan + UBSan, used by the tests).

SHELL := /bin/bash
CC := gcc
CSTD := -std=c17 -D_GNU_SOURCE
WARN := -Wall -Wextra -Werror -Wpedantic -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wvla
CPPFLAGS := -I. -MMD -MP
REL_FLAGS := -O2 -g
SAN_FLAGS := -O1 -g -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=all

CORE_SRCS += core/util.c
CORE_SRCS += core/buf.c
CORE_SRCS += core/log.c
CORE_SRCS += core/cfg.c
CORE_SRCS += core/conn.c
CORE_SRCS += core/listen.c
CORE_SRCS += core/loop.c
CORE_SRCS += core/tls.c
CORE_SRCS += core/tls_client.c
CORE_SRCS += core/supervise.c
CORE_SRCS += core/pwhash.c
CORE_SRCS += core/authw.c
CORE_SRCS += core/access_rule.c
CORE_SRCS += core/access.c
CORE_SRCS += core/throttle.c
CORE_SRCS += core/sasl.c
CORE_SRCS += core/login.c
CORE_SRCS += core/dns.c
CORE_SRCS += core/dns_msg.c

CDB_SRCS += cdb/tbl_rec.c
CDB_SRCS += cdb/tbl.c
CDB_SRCS += cdb/tbl_build.c
CDB_SRCS += cdb/tbl_check.c
CDB_SRCS += cdb/route.c
CDB_SRCS += cdb/route_expand.c
CDB_SRCS += cdb/nexthop.c

SPOOL_SRCS += spool/spool_env.c
SPOOL_SRCS += spool/spool.c
SPOOL_SRCS += spool/spool_commit.c
SPOOL_SRCS += spool/flush.c
SPOOL_SRCS += spool/store.c
SPOOL_SRCS += spool/deliver.c
SPOOL_SRCS += spool/sched.c
SPOOL_SRCS += spool/mailbox.c
SPOOL_SRCS += spool/bounce.c
SPOOL_SRCS += spool/autoreply.c
SPOOL_SRCS += spool/autoreply_once.c
SPOOL_SRCS += spool/mboxfile.c
SPOOL_SRCS += spool/program.c
SPOOL_SRCS += spool/qfile.c
SPOOL_SRCS += spool/outq.c
SPOOL_SRCS += spool/outq_dest.c
SPOOL_SRCS += spool/outq_dsn.c
SPOOL_SRCS += spool/outq_local.c
SPOOL_SRCS += spool/outq_reply.c
SPOOL_SRCS += spool/pickup.c
SPOOL_SRCS += spool/maildrop.c

PROTO_SRCS += protocols/smtp_parse.c
PROTO_SRCS += protocols/smtp_data.c
PROTO_SRCS += protocols/smtp_server.c
PROTO_SRCS += protocols/smtp_auth.c
PROTO_SRCS += protocols/pop3_parse.c
PROTO_SRCS += protocols/pop3.c
PROTO_SRCS += protocols/smtp_client.c
PROTO_SRCS += protocols/smtp_client_tx.c

VDMAILD_SRCS := core/main.c $(CORE_SRCS) $(CDB_SRCS) $(SPOOL_SRCS) $(PROTO_SRCS)
# vdsync (and the directory half of vdctl) alone link libldap.
SYNC_SRCS := tools/sync_cfg.c tools/ldap_conn.c tools/strmap.c tools/dir_entry.c \
	tools/dir_cache.c tools/dir_gen.c tools/dir_map.c tools/sync_write.c tools/dir_sync.c \
	tools/dns_wire.c tools/dns_tsig.c tools/dns_update.c tools/dns_cli.c
VDCTL_SRCS := tools/vdctl.c tools/vdctl_dir.c tools/vdctl_queue.c \
	tools/dir_admin.c spool/spool_env.c \
	$(SYNC_SRCS) core/util.c core/log.c core/cfg.c core/buf.c $(CDB_SRCS) \
	spool/store.c
VDSYNC_SRCS := tools/vdsync.c $(SYNC_SRCS) core/util.c core/log.c core/buf.c \
	cdb/tbl_rec.c cdb/tbl.c cdb/tbl_build.c
# vdmail-sendmail: writes into the spool's maildrop/, no daemon code.
SENDMAIL_SRCS := tools/sendmail.c core/util.c core/log.c core/cfg.c core/buf.c cdb/tbl_rec.c protocols/smtp_parse.c spool/maildrop.c
UNIT_SRCS := $(wildcard tests/unit/test_*.c) tests/unit/t_main.c tests/unit/t_mail.c tests/unit/t_dnsd.c
# vdsync's pure half (no libldap): cache, mapping, record generation.
UNIT_LIB_SRCS := $(CORE_SRCS) $(CDB_SRCS) $(SPOOL_SRCS) $(PROTO_SRCS) \
	tools/strmap.c tools/dir_entry.c tools/dir_cache.c tools/dir_gen.c \
	tools/dir_map.c

VDMAILD_LIBS := -lev -lbearssl -lcdb -lcrypt -largon2 -lcares
VDCTL_LIBS := -lldap -llber -lcdb -lbearssl -lcrypt
VDSYNC_LIBS := -lldap -llber -lcdb -lbearssl
UNIT_LIBS := -lev -lbearssl -lcdb -lcrypt -largon2 -lcares

# B is the build directory (helpers and parallel checkouts may use another).
B ?= build
export VDMAIL_BUILD := $(abspath $(B))/san
objs = $(patsubst %.c,$(B)/$(1)/%.o,$(2))

REL_BINS := $(B)/rel/vdmaild $(B)/rel/vdctl $(B)/rel/vdsync $(B)/rel/vdmail-sendmail
SAN_BINS := $(B)/san/vdmaild $(B)/san/vdctl $(B)/san/vdsync $(B)/san/unit \
	$(B)/san/vdmail-sendmail

.PHONY: all deps deps-test run test unit e2e fuzz bench clean fmt lint
.DEFAULT_GOAL := all

all: $(REL_BINS)

# V=1 shows the full compiler command lines.
Q := $(if $(V),,@)

$(B)/rel/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(V),,echo "  CC      $@")
	$(Q)$(CC) $(CSTD) $(WARN) $(REL_FLAGS) $(CPPFLAGS) -c $< -o $@

$(B)/san/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(V),,echo "  CC      $@")
	$(Q)$(CC) $(CSTD) $(WARN) $(SAN_FLAGS) $(CPPFLAGS) -c $< -o $@

define link
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(1) -o $@ $^ $(2)
endef

$(B)/rel/vdmaild: $(call objs,rel,$(VDMAILD_SRCS))
	$(call link,$(REL_FLAGS),$(VDMAILD_LIBS))
$(B)/rel/vdctl: $(call objs,rel,$(VDCTL_SRCS))
	$(call link,$(REL_FLAGS),$(VDCTL_LIBS))
$(B)/rel/vdsync: $(call objs,rel,$(VDSYNC_SRCS))
	$(call link,$(REL_FLAGS),$(VDSYNC_LIBS))
$(B)/san/vdsync: $(call objs,san,$(VDSYNC_SRCS))
	$(call link,$(SAN_FLAGS),$(VDSYNC_LIBS))
$(B)/san/vdmaild: $(call objs,san,$(VDMAILD_SRCS))
	$(call link,$(SAN_FLAGS),$(VDMAILD_LIBS))
$(B)/san/vdctl: $(call objs,san,$(VDCTL_SRCS))
	$(call link,$(SAN_FLAGS),$(VDCTL_LIBS))
$(B)/rel/vdmail-sendmail: $(call objs,rel,$(SENDMAIL_SRCS))
	$(call link,$(REL_FLAGS),)
$(B)/san/vdmail-sendmail: $(call objs,san,$(SENDMAIL_SRCS))
	$(call link,$(SAN_FLAGS),)
$(B)/san/unit: $(call objs,san,$(UNIT_SRCS) $(UNIT_LIB_SRCS))
	$(call link,$(SAN_FLAGS),$(UNIT_LIBS))

deps:
	@tools/deps.sh run
deps-test:
	@tools/deps.sh test

# The demo: tables from etc/*.txt, a self-signed certificate, data/ below
# the checkout, vdmaild in the foreground on the 200xx ports.
run: deps
	@$(MAKE) --no-print-directory all
	@tools/demo.sh

unit: deps-test
	@$(MAKE) --no-print-directory $(B)/san/unit
	@$(B)/san/unit

e2e: deps-test
	@$(MAKE) --no-print-directory $(SAN_BINS)
	@tests/run e2e

fuzz: deps-test
	@tests/fuzz/run.sh 60

test: deps-test
	@$(MAKE) --no-print-directory $(SAN_BINS) $(REL_BINS)
	@tests/run all

bench: deps
	@$(MAKE) --no-print-directory all
	@tests/bench/smtp_bench.sh

fmt:
	clang-format -i $$(git ls-files '*.c' '*.h')

lint:
	-cppcheck --quiet --enable=warning,performance -I. core cdb spool protocols tools
	-clang-tidy $$(git ls-files 'core/*.c' 'cdb/*.c') -- $(CSTD) -I.

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
