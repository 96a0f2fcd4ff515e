import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app/App';
import { ModelManager } from './app/ModelManager';
import './app/styles.css';
import { boot, installDebugHooks } from './state/actions';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
    <ModelManager />
  </StrictMode>,
);
installDebugHooks();
void boot();
