#!/usr/bin/env bash
# Provision one cnilab node (run as root by the Vagrantfile, or by hand on any Debian 12
# host). It only installs packages and then calls the project's own commands, the same
# ones the tests run inside namespaces: `cnilab node init` and `cnilab install`.
#
#   provision.sh --name node1 --node-ip 192.168.56.11 --pod-cidr 10.244.0.0/24 \
#                --peer 10.244.1.0/24=192.168.56.12 [--pod-network 10.244.0.0/16] \
#                [--web] [--agent node1=192.168.56.11[=SHA256] ...] [--agent-token TOKEN] \
#                [--agent-cert FILE --agent-key FILE] \
#                [--src /vagrant] [--prefix /opt/cnilab] [--root DIR] [--package-source URL]
#
# --agent-cert/--agent-key install this node's agent certificate (the Vagrantfile makes
# one per VM, so node1's app can pin node2's SHA256 before node2 exists); without them
# `cnilab agent --make-cert` makes one here. --root DIR writes every system file (units,
# /etc/cnilab, /var/lib/cnilab, the CNI folders) under DIR instead of /; tests run the
# script that way inside a namespace. --package-source URL takes every package from URL
# instead of the internet (offline machines; the two-VM test serves one from the host):
# apt from the flat repository URL/debian, pip from the wheels in URL/wheels/ only, npm
# from the cache URL/npm-cache.tar.gz, offline. The system's own apt sources stay as they are.
set -euo pipefail

usage() {
	sed -n '2,20p' "$0" >&2
	exit 2
}

name="" node_ip="" pod_cidr="" pod_network="10.244.0.0/16" web=0 agent_token=""
agent_cert="" agent_key=""
src="/vagrant" prefix="/opt/cnilab" root="" package_source=""
peers=() agents=()
while [ "$#" -gt 0 ]; do
	case "$1" in
	--name) name="${2:?--name needs a value}"; shift 2 ;;
	--node-ip) node_ip="${2:?--node-ip needs a value}"; shift 2 ;;
	--pod-cidr) pod_cidr="${2:?--pod-cidr needs a value}"; shift 2 ;;
	--pod-network) pod_network="${2:?--pod-network needs a value}"; shift 2 ;;
	--peer) peers+=("${2:?--peer needs CIDR=IP}"); shift 2 ;;
	--web) web=1; shift ;;
	--agent) agents+=("${2:?--agent needs NAME=IP}"); shift 2 ;;
	--agent-token) agent_token="${2:?--agent-token needs a value}"; shift 2 ;;
	--agent-cert) agent_cert="${2:?--agent-cert needs a file}"; shift 2 ;;
	--agent-key) agent_key="${2:?--agent-key needs a file}"; shift 2 ;;
	--src) src="${2:?--src needs a folder}"; shift 2 ;;
	--prefix) prefix="${2:?--prefix needs a folder}"; shift 2 ;;
	--root) root="${2:?--root needs a folder}"; shift 2 ;;
	--package-source) package_source="${2:?--package-source needs a URL}"; shift 2 ;;
	-h | --help) usage ;;
	*) echo "provision.sh: unknown argument: $1" >&2; usage ;;
	esac
done
if [ -z "$name" ] || [ -z "$node_ip" ] || [ -z "$pod_cidr" ]; then
	echo "provision.sh: --name, --node-ip and --pod-cidr are required" >&2
	usage
fi
if [ -n "$agent_cert$agent_key" ] && { [ -z "$agent_cert" ] || [ -z "$agent_key" ]; }; then
	echo "provision.sh: --agent-cert and --agent-key go together" >&2
	usage
fi
if [ -n "$package_source" ] && ! [[ "$package_source" =~ ^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$ ]]; then
	echo "provision.sh: --package-source $package_source: give an http(s) URL" >&2
	usage
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "provision.sh: run as root" >&2
	exit 1
fi

venv="$prefix/venv"
cnilab="$venv/bin/cnilab"
units_dir="$src/vagrant/systemd" # the script itself runs from a copy in /tmp
etc="$root/etc/cnilab"

echo "== $name: packages"
export DEBIAN_FRONTEND=noninteractive
packages=(python3 python3-venv iproute2 iptables nftables iputils-ping util-linux
	containernetworking-plugins tcpdump)
if [ "$web" -eq 1 ] && [ -f "$src/static/package.json" ]; then
	packages+=(nodejs npm)
fi
apt_options=()
if [ -n "$package_source" ]; then
	package_source="${package_source%/}"
	apt_dir="$(mktemp -d)"
	trap 'rm -rf "$apt_dir"' EXIT
	echo "deb [trusted=yes] $package_source/debian ./" >"$apt_dir/cnilab.list"
	apt_options=(-o "Dir::Etc::SourceList=$apt_dir/cnilab.list" -o "Dir::Etc::SourceParts=$apt_dir/parts.d")
	source_host="${package_source#*://}"
	source_host="${source_host%%/*}"
	export PIP_NO_INDEX=1 PIP_FIND_LINKS="$package_source/wheels/" PIP_TRUSTED_HOST="${source_host%%:*}"
fi
apt-get "${apt_options[@]}" update -q
apt-get "${apt_options[@]}" install -y -q --no-install-recommends "${packages[@]}"

echo "== $name: cnilab into $venv (editable: \`vagrant rsync\` refreshes the code)"
if [ ! -x "$venv/bin/python" ]; then
	python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q -e "$src"
install -d "$root/usr/local/bin"
ln -sf "$cnilab" "$root/usr/local/bin/cnilab"

echo "== $name: cnilab node init"
peer_args=()
for peer in "${peers[@]}"; do
	peer_args+=(--peer "$peer")
done
"$cnilab" node init --pod-cidr "$pod_cidr" --node-ip "$node_ip" \
	--pod-network "$pod_network" "${peer_args[@]}" \
	--state-file "$root/var/lib/cnilab/node.json"

echo "== $name: cnilab install"
"$cnilab" install --pod-cidr "$pod_cidr" \
	--bin-dir "$root/opt/cni/bin" --conf-dir "$root/etc/cni/net.d"

echo "== $name: services"
# The agent probes only lab addresses: the pod network and the nodes.
lab_args=(--lab-network "$pod_network" --lab-network "$node_ip/32")
for agent in "${agents[@]}"; do
	rest="${agent#*=}"
	lab_args+=(--lab-network "${rest%%=*}/32")
done
install -d -m 0755 "$etc" "$root/etc/systemd/system"
{
	echo "# Written by vagrant/provision.sh; read by cnilab-node.service and cnilab-agent.service."
	echo "CNILAB_NODE_NAME=$name"
	echo "CNILAB_NODE_IP=$node_ip"
	echo "CNILAB_POD_CIDR=$pod_cidr"
	echo "CNILAB_POD_NETWORK=$pod_network"
	echo "CNILAB_PEER_ARGS=\"${peer_args[*]}\""
	echo "CNILAB_AGENT_ARGS=\"${lab_args[*]}\""
	# Root shells for the course page: on the nodes whose terminals node1's app relays.
	if [ "$web" -eq 1 ]; then echo "CNILAB_AGENT_TERMINAL="; else echo "CNILAB_AGENT_TERMINAL=--allow-terminal"; fi
} >"$etc/node.env"
# Every node's agent shares one token (the Vagrantfile makes it once, on the host).
if [ -n "$agent_token" ]; then
	(umask 077 && echo "$agent_token" >"$etc/agent.token")
elif [ ! -f "$etc/agent.token" ]; then
	(umask 077 && "$venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(24))' >"$etc/agent.token")
fi
# The agent's TLS certificate: the one the Vagrantfile made for this node, or one made here.
cert_dir="$root/var/lib/cnilab/agent"
install -d -m 0700 "$cert_dir"
if [ -n "$agent_cert" ]; then
	install -m 0644 "$agent_cert" "$cert_dir/agent.crt"
	install -m 0600 "$agent_key" "$cert_dir/agent.key"
fi
fingerprint="$("$cnilab" agent --node "$name" --cert-dir "$cert_dir" --make-cert)"
units=(cnilab-node.service pycni-daemon.service cnilab-agent.service)
if [ "$web" -eq 1 ]; then
	units+=(cnilab-web.service)
	if [ ! -f "$etc/web.env" ]; then
		token="$("$venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(16))')"
		(umask 077 && echo "CNILAB_TOKEN=$token" >"$etc/web.env")
	fi
	# The web app merges every node's agent into one graph and one trace, over HTTPS,
	# pinning each agent's certificate by its SHA-256 (kept beside the shared token).
	{
		echo "["
		sep=""
		for agent in "${agents[@]:-$name=$node_ip}"; do
			agent_name="${agent%%=*}" rest="${agent#*=}" pin=""
			agent_ip="${rest%%=*}"
			case "$rest" in *=*) pin="${rest#*=}" ;; esac
			if [ "$agent_name" = "$name" ]; then
				if [ -n "$pin" ] && [ "$pin" != "$fingerprint" ]; then
					echo "provision.sh: --agent $agent: this node's certificate is $fingerprint" >&2
					exit 1
				fi
				pin="$fingerprint"
			fi
			if ! [[ "$agent_name" =~ ^[a-z0-9][a-z0-9._-]*$ && "$pin" =~ ^[0-9a-f]{64}$ ]]; then
				echo "provision.sh: --agent $agent: give NAME=IP=SHA256 (the app pins it)" >&2
				exit 2
			fi
			echo "$pin" >"$etc/agent-$agent_name.fingerprint"
			printf '%s  {"name": "%s", "url": "https://%s:8081", "token_file": "%s", "fingerprint_file": "%s"}' \
				"$sep" "$agent_name" "$agent_ip" /etc/cnilab/agent.token \
				"/etc/cnilab/agent-$agent_name.fingerprint"
			sep=$',\n'
		done
		printf '\n]\n'
	} >"$etc/agents.json"
	if [ -f "$src/static/package-lock.json" ]; then
		npm_options=()
		if [ -n "$package_source" ]; then
			npm_cache="$apt_dir/npm-cache"
			mkdir -p "$npm_cache"
			"$venv/bin/python" -c 'import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1]).read())' \
				"$package_source/npm-cache.tar.gz" | tar -xz -C "$npm_cache"
			npm_options=(--offline --cache "$npm_cache")
		fi
		(cd "$src/static" && npm ci --no-audit --no-fund --loglevel=error "${npm_options[@]}")
	fi
fi
for unit in "${units[@]}"; do
	install -m 0644 "$units_dir/$unit" "$root/etc/systemd/system/$unit"
done
systemctl daemon-reload
systemctl enable -q "${units[@]}"
systemctl restart "${units[@]}"

echo "== $name: ready"
ip -br addr show cni0
ip route show | grep -F "via" || true
if [ "$web" -eq 1 ]; then
	token="$(sed -n 's/^CNILAB_TOKEN=//p' "$etc/web.env")"
	echo "web app: http://127.0.0.1:8080/?token=$token"
fi
