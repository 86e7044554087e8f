#!/bin/sh
mkdir -p /app/var /app/exports
