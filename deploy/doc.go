// Package deploy holds no code: it is the home of the deployment files
// (deploy/systemd, deploy/kubernetes, deploy/compose) and of the test that
// checks them, the repository's Dockerfile and docker-compose.yml, and the
// example configurations in examples/ against the code: every configuration
// key, environment variable, command and image they use must exist.
package deploy
