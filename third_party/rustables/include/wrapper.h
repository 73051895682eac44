#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
/* kube-verdict patch: NFTA_TARGET_* for the nft_compat target expression. */
#include <linux/netfilter/nf_tables_compat.h>
