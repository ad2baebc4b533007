# Packages the CLI/agent as one Windows executable (Node single-executable application) into
# dist-windows/cnspect.exe, for deploy/windows/Dockerfile. Run from the repository root on Windows
# with Node 20: powershell -File deploy/windows/build.ps1
$ErrorActionPreference = 'Stop'
npm ci --no-audit --no-fund
npm run build
New-Item -ItemType Directory -Force -Path dist-windows | Out-Null
npx --yes esbuild bin/cnspect.js --bundle --platform=node --format=cjs --outfile=dist-windows/cnspect.cjs
'{ "main": "dist-windows/cnspect.cjs", "output": "dist-windows/sea-prep.blob" }' | Set-Content -Encoding ascii dist-windows/sea-config.json
node --experimental-sea-config dist-windows/sea-config.json
Copy-Item (Get-Command node).Source dist-windows/cnspect.exe
npx --yes postject dist-windows/cnspect.exe NODE_SEA_BLOB dist-windows/sea-prep.blob --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2
