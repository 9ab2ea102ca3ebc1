/* sa_probe: what an in-cluster client does, as a static binary for test
 * images (busybox's wget has no TLS here). Reads the pod's service-account
 * token, CA and namespace from /var/run/secrets/kubernetes.io/serviceaccount,
 * connects to $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT verifying the
 * server certificate against that CA (and its IP SAN), sends
 * GET /api/v1/namespaces/<ns>/pods with the bearer token and prints the HTTP
 * status code ("200", "403" ...) or "error: <why>". Exit 0 when it got an
 * answer. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount/"

static int read_file(const char* path, char* buf, size_t cap) {
  FILE* f = fopen(path, "r");
  if (f == NULL) return -1;
  size_t n = fread(buf, 1, cap - 1, f);
  fclose(f);
  buf[n] = '\0';
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = '\0';
  return (int)n;
}

int main(void) {
  static char token[8192], ns[256], request[10000], reply[256];
  const char* host = getenv("KUBERNETES_SERVICE_HOST");
  const char* port = getenv("KUBERNETES_SERVICE_PORT");
  if (host == NULL || port == NULL) return puts("error: KUBERNETES_SERVICE_HOST/PORT not set"), 1;
  if (read_file(SA_DIR "token", token, sizeof token) <= 0) return puts("error: no token file"), 1;
  if (read_file(SA_DIR "namespace", ns, sizeof ns) <= 0) return puts("error: no namespace file"), 1;

  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(port))};
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) return puts("error: bad host"), 1;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct timeval tv = {.tv_sec = 5};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr*)&addr, sizeof addr) != 0) return perror("error: connect"), 1;

  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (SSL_CTX_load_verify_locations(ctx, SA_DIR "ca.crt", NULL) != 1) return puts("error: bad ca.crt"), 1;
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  SSL* ssl = SSL_new(ctx);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
  SSL_set_fd(ssl, fd);
  if (SSL_connect(ssl) != 1) {
    printf("error: TLS: %s\n", ERR_reason_error_string(ERR_get_error()));
    return 1;
  }
  int len = snprintf(request, sizeof request,
                     "GET /api/v1/namespaces/%s/pods HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                     "Accept: application/json\r\nConnection: close\r\n\r\n",
                     ns, host, token);
  if (SSL_write(ssl, request, len) != len) return puts("error: write"), 1;
  int n = SSL_read(ssl, reply, sizeof reply - 1);
  if (n < 12) return puts("error: no reply"), 1;
  reply[n] = '\0';
  printf("%.3s\n", reply + 9); /* "HTTP/1.1 403 ..." */
  return 0;
}
