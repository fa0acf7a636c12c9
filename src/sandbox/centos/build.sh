#!/bin/sh
# Runs inside the CentOS-like base while mmdebstrap builds it (network through mmdebstrap):
# builds the local rpm repository from Debian's sendmail programs, then gives the root RHEL's
# layout and hides Debian's package tools, so mailprov's facts see rpm and dnf.
set -eu
src=/tmp/mailprov-centos
work=$src/work
repo=/srv/mailprov-rpms
mkdir -p "$work/debs" "$work/stage" "$repo"

# The programs, from Debian's own packages (downloaded, unpacked, never installed).
cd "$work/debs"
apt-get download -q sendmail-bin sendmail-cf libsasl2-modules sasl2-bin
for deb in *.deb; do
	p=${deb%%_*}
	mkdir -p "$work/stage/$p"
	dpkg-deb -x "$deb" "$work/stage/$p"
done
sm_version=$(dpkg-deb -f sendmail-bin_*.deb Version | sed 's/-[^-]*$//')
sasl_version=$(dpkg-deb -f libsasl2-modules_*.deb Version | sed 's/^[0-9]*://; s/+.*//; s/-[^-]*$//')
sasldir=$(cd "$work/stage/libsasl2-modules" && dirname "$(find . -name 'libplain.so*' | head -n 1)" | sed 's/^\.//')

# The rpm database lives where RHEL's does; rpmbuild works in the scratch folder.
cp -R "$src/root/etc/rpm" /etc/
mkdir -p /var/lib/rpm
rpmdb --initdb
build() {
	rpmbuild -bb --quiet --define "_topdir $work/rpmbuild" --define "stage $work/stage" --define "srcdir $src" \
		--define "sm_version $sm_version" --define "sasl_version $sasl_version" --define "sasldir $sasldir" "$@"
}
build "$src/sendmail.spec"
build "$src/cyrus-sasl.spec"
build "$src/mailprov-sandbox-base.spec"
find "$work/rpmbuild/RPMS" -name '*.rpm' -exec cp {} "$repo/" \;
createrepo_c --quiet "$repo"
rpm -i --quiet --force-debian "$repo"/mailprov-sandbox-base-*.noarch.rpm

# CentOS's layout: os-release, redhat-release, service, yum, dnf with only the local repository,
# the stock firewall of both families (and `service iptables save`, `service ip6tables save`), RHEL's
# CA bundle path (the sandbox CA is added per host). Debian's own init scripts go, but for ssh (sshd
# runs as the host's init).
rm -f /etc/os-release /etc/debian_version /etc/init.d/hwclock.sh /etc/init.d/procps /etc/init.d/sudo
# (the files of the root/ folder beside this script)
cp -R "$src/root/." /
chmod 755 /usr/sbin/service /usr/local/sbin/mailprov-sandbox-init /etc/rc.d/init.d/iptables
ln -s iptables /etc/rc.d/init.d/ip6tables
ln -s ../rc.d/init.d/iptables /etc/init.d/iptables
ln -s ../rc.d/init.d/ip6tables /etc/init.d/ip6tables
chmod 600 /etc/sysconfig/iptables /etc/sysconfig/ip6tables
ln -s ../usr/lib/os-release /etc/os-release
ln -s redhat-release /etc/centos-release
ln -s redhat-release /etc/system-release
printf '\\S\nKernel \\r on an \\m\n\n' > /etc/issue
ln -sf dnf /usr/bin/yum
# Debian's rpm warns against installing with it ("use Alien instead") unless told --force-debian
mkdir -p /usr/lib/mailprov-sandbox && mv /usr/bin/rpm /usr/lib/mailprov-sandbox/rpm
printf '#!/bin/sh\nexec /usr/lib/mailprov-sandbox/rpm --force-debian "$@"\n' > /usr/bin/rpm
chmod 755 /usr/bin/rpm
ln -sf ../lib/mailprov-sandbox/rpm /usr/bin/rpmquery
ln -sf ../lib/mailprov-sandbox/rpm /usr/bin/rpmverify
mkdir -p /etc/pki/tls/certs /etc/pki/tls/private /etc/pki/ca-trust/source/anchors
ln -s /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/cert.pem
cp /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt
dnf -q makecache

# per-host keys are written at `up`; never share the base's
rm -f /etc/ssh/ssh_host_*

# Last: no apt package lists, and Debian's package tools off PATH (mailprov's facts look for
# apt-get and dpkg-query before dnf and rpm).
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb /etc/dpkg/dpkg.cfg.d/99mmdebstrap
hidden=/usr/lib/mailprov-sandbox/debian-tools
mkdir -p "$hidden"
for f in /usr/bin/apt /usr/bin/apt-* /usr/bin/dpkg /usr/bin/dpkg-* /usr/sbin/dpkg-*; do
	[ -e "$f" ] && mv "$f" "$hidden/"
done
true
